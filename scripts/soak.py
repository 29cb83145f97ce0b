#!/usr/bin/env python3
"""llm-soak's memory soak and scrape-cost benchmarks (docs/BENCHMARKS.md).

  scripts/soak.py soak     an accelerated soak: --requests (default 10^6) short requests at a high
                           open-loop rate against the simulator (simulator and llm-soak on their
                           own cores), llm-soak's RSS sampled every --every seconds with the count
                           of finished requests; reports the peak and the least-squares slope of
                           RSS after the warm-up, per hour and per 10^6 requests
  scripts/soak.py scrape   GET /metrics cost with --scenarios x --models label sets (every series
                           populated by a short load first): time per scrape, body size, series
  scripts/soak.py canary   a canary-only daemon's footprint: one probe every --interval seconds
                           against the simulator for --probes probes; RSS (current and peak),
                           CPU-seconds, RSS after ten page reads, the series' bytes per window
  scripts/soak.py hours    evidence over hours, in real time: the simulator with a slow memory
                           leak and ITL drift, a real Prometheus with the shipped rules scraping
                           llm-soak every 15 s, llm-soak with a canary and two scenarios and a
                           state directory, killed with SIGKILL at --kill-at for --down seconds and
                           started again (it goes on with its run). Samples llm-soak's RSS and fd
                           count and checks started = finished + in flight every --every seconds;
                           records every alert's pending/firing transitions; compares the resumed
                           report's totals with the simulator's truth
  scripts/soak.py resume   a resumed daemon's memory: RSS of the first daemon after --fill seconds
                           and of the one that went on with its run after --fill / 2.5, and the
                           arrivals each sent more than 50 ms late
  scripts/soak.py series   what the live page's windows cost: two scenarios and a canary at --rate
                           for --fill seconds, then the series' windows and bytes per window

Results go to OUT/WHAT.json (and are printed).
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (Child, cores, cpu_seconds, free_port, http, http_json, mem_kib,  # noqa: E402
                   pinned, scrape_sum)

SIM_TOML = """
[simulator]
batch_capacity = 100000
prefill_base = "{ttft}"
prefill_per_token = "0s"
itl_base = "{itl}"
itl_per_seq = "0s"
kv_cache_tokens = 2000000000
prefix_cache_blocks = 0
default_max_tokens = {tokens}
"""


def start_sim(a, d, sim_core, ttft="1ms", itl="1ms", tokens=4):
    with open(f"{d}/sim.toml", "w") as f:
        f.write(SIM_TOML.format(ttft=ttft, itl=itl, tokens=tokens))
    sim = Child(pinned(sim_core, [a.bin, "simulate", "-c", f"{d}/sim.toml",
                                  "--listen", "127.0.0.1:0"]), f"{d}/sim.log")
    return sim, sim.wait_for("listening on http://").split()[0]


def slope(xs, ys):
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def soak(a):
    sim_core, client_core = cores()
    d = tempfile.mkdtemp(prefix="llm-soak-soak-")
    seconds = a.requests / a.rate
    sim, sim_addr = start_sim(a, d, sim_core)
    port = free_port()
    with open(f"{d}/run.toml", "w") as f:
        f.write(f"""
seed = 3
[server]
listen = "127.0.0.1:{port}"
[[target]]
name = "sim"
base_url = "http://{sim_addr}"
model = "llm-soak-sim"
pool_max_idle = 512
[load]
mode = "open"
arrival = "poisson"
max_in_flight = 512
[[load.phases]]
kind = "steady"
rate = {a.rate}
duration = "{int(seconds)}s"
[[scenario]]
name = "short"
input_tokens = {{ uniform = {{ min = 16, max = 64 }} }}
output_tokens = 4
""")
    run = Child(pinned(client_core, [a.bin, "run", "-c", f"{d}/run.toml",
                                     "--duration", f"{int(seconds) + 30}s",
                                     "--report", f"{d}/report.json"]), f"{d}/run.log")
    samples = []
    peak = 0
    try:
        run.wait_for("metrics: http://")
        start = time.time()
        while run.p.poll() is None:
            try:
                s = http_json(f"http://127.0.0.1:{port}/api/v1/status")
                rss = mem_kib(run.p.pid, "VmRSS") * 1024
                peak = max(peak, mem_kib(run.p.pid, "VmHWM") * 1024)
            except (OSError, ValueError):
                break
            samples.append({"t": round(time.time() - start, 2), "rss": rss,
                            "finished": s["requests"]["finished"],
                            "dropped": s["requests"]["dropped"]})
            if s["state"] == "finished" and s["requests"]["in_flight"] == 0:
                break
            time.sleep(a.every)
        run.p.wait(timeout=120)
        with open(f"{d}/report.json") as f:
            report = json.load(f)
    finally:
        run.close()
        sim.close()
    settled = [s for s in samples if s["t"] >= a.warmup]
    ts = [s["t"] for s in settled]
    per_s = slope(ts, [s["rss"] for s in settled])
    per_req = slope([s["finished"] for s in settled], [s["rss"] for s in settled])
    # The second half alone: a warm-up (allocator arenas, histogram buckets, pools at their
    # high-water mark) can outlast --warmup; a leak does not stop halfway.
    late = settled[len(settled) // 2:]
    per_req_late = slope([s["finished"] for s in late], [s["rss"] for s in late])
    per_s_late = slope([s["t"] for s in late], [s["rss"] for s in late])
    finished = samples[-1]["finished"] if samples else 0
    out = {
        "command": " ".join(sys.argv),
        "rate": a.rate,
        "requests_finished": finished,
        "dropped": samples[-1]["dropped"] if samples else None,
        "errors": sum(v for k, v in report["requests"]["finished"].items() if k != "success"),
        "seconds": samples[-1]["t"] if samples else 0,
        "achieved_rate": round(finished / samples[-1]["t"], 1) if samples else 0,
        "samples": len(samples),
        "warmup_s": a.warmup,
        "rss_start_mib": round(settled[0]["rss"] / 2**20, 1) if settled else None,
        "rss_end_mib": round(settled[-1]["rss"] / 2**20, 1) if settled else None,
        "peak_rss_mib": round(peak / 2**20, 1),
        "slope_bytes_per_hour": round(per_s * 3600),
        "slope_bytes_per_million_requests": round(per_req * 1e6),
        "second_half_slope_bytes_per_hour": round(per_s_late * 3600),
        "second_half_slope_bytes_per_million_requests": round(per_req_late * 1e6),
        "rss_series": [(s["t"], s["finished"], s["rss"]) for s in samples],
    }
    shutil.rmtree(d, ignore_errors=True)
    return out


def scrape(a):
    sim_core, client_core = cores()
    d = tempfile.mkdtemp(prefix="llm-soak-scrape-")
    sim, sim_addr = start_sim(a, d, sim_core)
    port = free_port()
    cfg = [f'seed = 5\n[server]\nlisten = "127.0.0.1:{port}"\n']
    for m in range(a.models):
        cfg.append(f'[[target]]\nname = "model{m}"\nbase_url = "http://{sim_addr}"\n'
                   f'model = "sim-model-{m}"\n')
    # Enough arrivals that every scenario of every model has finished requests.
    cfg.append('[load]\nmode = "open"\narrival = "constant"\nmax_in_flight = 256\n'
               '[[load.phases]]\nkind = "steady"\nrate = 200\nduration = "forever"\n')
    for m in range(a.models):
        for s in range(a.scenarios):
            cfg.append(f'[[scenario]]\nname = "s{s:02}-m{m}"\ntarget = "model{m}"\n'
                       f'input_tokens = 32\noutput_tokens = 8\n')
    with open(f"{d}/run.toml", "w") as f:
        f.write("\n".join(cfg))
    run = Child(pinned(client_core, [a.bin, "run", "-c", f"{d}/run.toml"]), f"{d}/run.log")
    try:
        run.wait_for("metrics: http://")
        time.sleep(a.fill)
        url = f"http://127.0.0.1:{port}/metrics"
        times, size, series = [], 0, 0
        for _ in range(a.scrapes):
            t0 = time.perf_counter()
            body = http(url)
            times.append(time.perf_counter() - t0)
            size = len(body)
            time.sleep(0.05)
        series = sum(1 for line in body.decode().splitlines()
                     if line and not line.startswith("#"))
        scenarios_seen = len({part.split('"')[1] for line in body.decode().splitlines()
                              if line.startswith("llmsoak_requests_total{")
                              for part in line.split(",") if part.startswith("llmsoak_scenario=")})
    finally:
        run.close()
        sim.close()
    shutil.rmtree(d, ignore_errors=True)
    times.sort()
    ms = 1000
    return {
        "command": " ".join(sys.argv),
        "scenarios": a.scenarios, "models": a.models, "label_sets_seen": scenarios_seen,
        "scrapes": len(times), "series": series, "body_bytes": size,
        "p50_ms": round(times[len(times) // 2] * ms, 2),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * ms, 2),
        "max_ms": round(times[-1] * ms, 2),
        "note": "while llm-soak sends 200 req/s across every scenario (scrape on a loaded process)",
    }


HOURS_SIM = """
[simulator]
batch_capacity = 64
prefill_base = "40ms"
prefill_per_token = "0s"
itl_base = "10ms"
itl_per_seq = "0s"
[simulator.leak]
bytes_per_minute = {leak}
max_bytes = 4294967296
[simulator.drift]
itl_per_hour = {drift}
"""


def prometheus(d, port, targets):
    rules = os.path.abspath("alerts")
    with open(f"{d}/prometheus.yml", "w") as f:
        f.write("global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n"
                f"rule_files:\n  - {rules}/llm-soak.rules.yml\n  - {rules}/llm-soak.alerts.yml\n"
                "scrape_configs:\n  - job_name: llm-soak\n    static_configs:\n"
                f"      - targets: [{', '.join(repr(t) for t in targets)}]\n")
    return Child(["prometheus", f"--config.file={d}/prometheus.yml",
                  f"--storage.tsdb.path={d}/tsdb", f"--web.listen-address=127.0.0.1:{port}"],
                 f"{d}/prometheus.log")


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def read_page(port, since):
    """One read of the live page (the whole view, or the windows after `since` as an open page
    polls); returns the end of its last window, for the next read."""
    v = http_json(f"http://127.0.0.1:{port}/api/v1/view" + (f"?since={since}" if since else ""))
    t = (v.get("series") or {}).get("t") or []
    return t[-1] if t else since


def two_scenarios(port, sim_addr, rate, canary_every):
    """The soak of `hours` and `resume`: two scenarios at `rate` requests/s and a canary."""
    return f"""
seed = 11
[server]
listen = "127.0.0.1:{port}"
[[target]]
name = "sim"
base_url = "http://{sim_addr}"
model = "llm-soak-sim"
[load]
preset = {{ name = "steady", rate = {rate}, duration = "forever" }}
[[scenario]]
name = "chat"
weight = 3
input_tokens = {{ uniform = {{ min = 64, max = 512 }} }}
output_tokens = {{ uniform = {{ min = 16, max = 96 }} }}
[[scenario]]
name = "long"
input_tokens = {{ uniform = {{ min = 1024, max = 2048 }} }}
output_tokens = 128
[canary]
interval = "{canary_every}"
"""


def hours(a):
    d = tempfile.mkdtemp(prefix="llm-soak-hours-")
    os.makedirs(f"{d}/state")
    with open(f"{d}/sim.toml", "w") as f:
        f.write(HOURS_SIM.format(leak=a.leak, drift=a.drift))
    sim = Child([a.bin, "simulate", "-c", f"{d}/sim.toml", "--listen", "127.0.0.1:0"],
                f"{d}/sim.log")
    sim_addr = sim.wait_for("listening on http://").split()[0]
    port, prom_port = free_port(), free_port()
    seconds = int(a.minutes * 60)
    with open(f"{d}/run.toml", "w") as f:
        f.write(two_scenarios(port, sim_addr, a.rate, "15s") + f"""
[resources]
interval = "15s"
host = false
gpu = false
target_process = {{ pid = {sim.p.pid} }}
[baseline]
warmup = "{a.baseline}m"
window = "{a.baseline}m"
state_dir = "{d}/state"
[output]
checkpoint_interval = "60s"
""")
    argv = [a.bin, "run", "-c", f"{d}/run.toml", "--duration", f"{seconds}s",
            "--report", f"{d}/report.json"]
    prom = prometheus(d, prom_port, [f"127.0.0.1:{port}"])
    run = Child(argv, f"{d}/run-1.log")
    run.wait_for("metrics: http://")
    start = time.time()
    kill_at = start + a.kill_at * seconds
    samples, transitions, broken = [], [], []
    states = {}
    killed = restarted = None
    page_since, page_opened = None, 0.0
    try:
        while True:
            now = time.time()
            if killed is None and now >= kill_at:
                run.p.send_signal(signal.SIGKILL)
                run.p.wait()
                killed = now
            if killed is not None and restarted is None and now >= killed + a.down:
                run.log.close()
                run = Child(argv, f"{d}/run-2.log")
                run.wait_for("metrics: http://")
                restarted = time.time()
                page_since = None
            if restarted is not None and run.p.poll() is not None:
                break
            up = killed is None or restarted is not None
            if up and run.p.poll() is None:
                try:
                    st = http_json(f"http://127.0.0.1:{port}/api/v1/status")
                    r = st["requests"]
                    finished = sum(r["finished"].values()) if isinstance(r["finished"], dict) \
                        else r["finished"]
                    sample = {"t": round(now - start), "rss_mib": round(
                        mem_kib(run.p.pid, "VmRSS") / 1024, 1), "fds": fds(run.p.pid),
                        "started": r["started"], "finished": finished,
                        "in_flight": r["in_flight"],
                        "series_mib": round(st.get("series", {}).get("memory_bytes", 0)
                                            / 1048576, 2)}
                    if a.page:
                        # An open live page: the whole view every 10 minutes (opened anew),
                        # the newer windows at every sample in between.
                        if page_since is None or now - page_opened >= 600:
                            page_opened, page_since = now, None
                        page_since = read_page(port, page_since)
                        sample["rss_after_view_mib"] = round(
                            mem_kib(run.p.pid, "VmRSS") / 1024, 1)
                    samples.append(sample)
                    if r["started"] != finished + r["in_flight"]:
                        broken.append(sample)
                except (OSError, ValueError, KeyError):
                    pass
            try:
                alerts = http_json(f"http://127.0.0.1:{prom_port}/api/v1/alerts")["data"]["alerts"]
                seen = {}
                for al in alerts:
                    seen[al["labels"]["alertname"]] = al["state"]
                for name in set(states) | set(seen):
                    if states.get(name) != seen.get(name):
                        transitions.append({"t": round(now - start), "alert": name,
                                            "state": seen.get(name, "inactive")})
                states = seen
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(a.every)
        with open(f"{d}/report.json") as f:
            report = json.load(f)
        truth = http_json(f"http://{sim_addr}/stats")
    finally:
        run.close()
        prom.close()
        sim.close()
    def rss_slope(part, less_series=False):
        ys = [s["rss_mib"] - (s["series_mib"] if less_series else 0) for s in part]
        return round(slope([s["t"] for s in part], ys) * 3600, 2)
    first = [s for s in samples if killed is None or s["t"] < killed - start]
    second = [s for s in samples if restarted is not None and s["t"] >= restarted - start]
    req = report["requests"]
    out = {
        "command": " ".join(sys.argv),
        "minutes": a.minutes, "rate": a.rate,
        "killed_at_s": round(killed - start) if killed else None,
        "restarted_at_s": round(restarted - start) if restarted else None,
        "rss_mib": {"first_half": [first[0]["rss_mib"], max(s["rss_mib"] for s in first)]
                    if first else None,
                    "second_half": [second[0]["rss_mib"], max(s["rss_mib"] for s in second)]
                    if second else None,
                    "slope_mib_per_hour_first": rss_slope(first[len(first) // 3:]),
                    "slope_mib_per_hour_second": rss_slope(second[len(second) // 3:]),
                    # What grows by design (the live page's tiers filling) taken out.
                    "slope_less_series_first": rss_slope(first[len(first) // 3:], True),
                    "slope_less_series_second": rss_slope(second[len(second) // 3:], True),
                    "series_mib_end": samples[-1]["series_mib"] if samples else None},
        "fds": {"min": min(s["fds"] for s in samples if s["fds"]),
                "max": max(s["fds"] for s in samples if s["fds"])},
        "samples": len(samples),
        "started_eq_finished_plus_in_flight_violations": len(broken),
        "alert_transitions": transitions,
        "report": {"run_id": report["run_id"], "complete": report["complete"],
                   "started": req["started"], "finished": req["finished"],
                   "lost": req.get("lost", 0), "resumes": report.get("resumes", [])},
        "simulator_truth_requests": truth.get("requests"),
        "samples_series": samples,
        "dir": d,
    }
    return out


def canary(a):
    d = tempfile.mkdtemp(prefix="llm-soak-canary-")
    sim, sim_addr = start_sim(a, d, None, ttft="20ms", itl="5ms", tokens=8)
    port = free_port()
    with open(f"{d}/run.toml", "w") as f:
        f.write(f"""
[server]
listen = "127.0.0.1:{port}"
[[target]]
name = "sim"
base_url = "http://{sim_addr}"
model = "llm-soak-sim"
[canary]
interval = "{a.interval}s"
""")
    run = Child([a.bin, "run", "-c", f"{d}/run.toml"], f"{d}/run.log")
    try:
        run.wait_for("metrics: http://")
        while scrape_sum(f"http://127.0.0.1:{port}/metrics",
                         "llmsoak_canary_probes_total") < a.probes:
            time.sleep(a.interval / 2)
        out = {"command": " ".join(sys.argv), "probes": a.probes, "interval_s": a.interval,
               "rss_mib": round(mem_kib(run.p.pid, "VmRSS") / 1024, 1),
               "peak_rss_mib": round(mem_kib(run.p.pid, "VmHWM") / 1024, 1),
               "cpu_seconds": round(cpu_seconds(run.p.pid), 2)}
        # Then the live page opened, and kept open for ten reads: what a page view costs.
        since = None
        for _ in range(10):
            since = read_page(port, since)
            time.sleep(a.interval)
        out["rss_after_page_mib"] = round(mem_kib(run.p.pid, "VmRSS") / 1024, 1)
        # What the live page's windows cost it so far, per window: what a week of them adds.
        series = http_json(f"http://127.0.0.1:{port}/api/v1/status").get("series", {})
        windows = sum(series.get("tiers", []))
        out["series_windows"] = windows
        out["series_bytes_per_window"] = round(series.get("memory_bytes", 0) / max(windows, 1))
    finally:
        run.close()
        sim.close()
    shutil.rmtree(d, ignore_errors=True)
    return out


def late_arrivals(port, bound):
    """Arrivals the daemon on `port` sent more than `bound` seconds (a bucket bound of its
    schedule-lag histogram) after they were due."""
    counts = {}
    for line in http(f"http://127.0.0.1:{port}/metrics").decode().splitlines():
        if line.startswith("llmsoak_schedule_lag_seconds_bucket{"):
            for le in ("+Inf", bound):
                if f'le="{le}"' in line:
                    counts[le] = counts.get(le, 0.0) + float(line.rsplit(" ", 1)[1])
    return round(counts.get("+Inf", 0.0) - counts.get(bound, 0.0))


def resume(a):
    """A resumed daemon's memory: a soak of two scenarios with a canary and a state directory,
    `kill -9` after --fill seconds, started again at once; RSS of each daemon after its time."""
    d = tempfile.mkdtemp(prefix="llm-soak-resume-")
    os.makedirs(f"{d}/state")
    sim, sim_addr = start_sim(a, d, None, ttft="40ms", itl="10ms", tokens=64)
    port = free_port()
    with open(f"{d}/run.toml", "w") as f:
        f.write(two_scenarios(port, sim_addr, a.rate, "5s") + f"""
[baseline]
state_dir = "{d}/state"
[output]
checkpoint_interval = "10s"
""")
    argv = [a.bin, "run", "-c", f"{d}/run.toml", "--duration", "3600s",
            "--report", f"{d}/report.json"]
    out = {"command": " ".join(sys.argv), "rate": a.rate}
    try:
        for segment, seconds in (("first", a.fill), ("resumed", a.fill / 2.5)):
            run = Child(argv, f"{d}/run-{segment}.log")
            run.wait_for("metrics: http://")
            time.sleep(seconds)
            out[f"{segment}_rss_mib"] = round(mem_kib(run.p.pid, "VmRSS") / 1024, 1)
            # Arrivals sent more than 50 ms after they were due (a restart's burst shows here).
            out[f"{segment}_late_arrivals"] = late_arrivals(port, "0.05")
            run.p.send_signal(signal.SIGKILL)
            run.p.wait()
            run.log.close()
    finally:
        sim.close()
    shutil.rmtree(d, ignore_errors=True)
    return out


def series(a):
    """What the live page's windows cost: a soak of two scenarios with a canary at --rate for
    --fill seconds, then the series' windows and memory from `/api/v1/status`."""
    d = tempfile.mkdtemp(prefix="llm-soak-series-")
    sim, sim_addr = start_sim(a, d, None, ttft="40ms", itl="10ms", tokens=64)
    port = free_port()
    with open(f"{d}/run.toml", "w") as f:
        f.write(two_scenarios(port, sim_addr, a.rate, "15s"))
    run = Child([a.bin, "run", "-c", f"{d}/run.toml", "--duration", "3600s"], f"{d}/run.log")
    try:
        run.wait_for("metrics: http://")
        time.sleep(a.fill)
        st = http_json(f"http://127.0.0.1:{port}/api/v1/status")["series"]
        windows = sum(st["tiers"])
        out = {"command": " ".join(sys.argv), "rate": a.rate, "scopes": 4,
               "windows": windows, "memory_bytes": st["memory_bytes"],
               "bytes_per_window": round(st["memory_bytes"] / max(windows, 1))}
    finally:
        run.close()
        sim.close()
    shutil.rmtree(d, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["soak", "scrape", "hours", "canary", "resume", "series"])
    ap.add_argument("--bin", default="target/release/llm-soak")
    ap.add_argument("--out", default="target/bench")
    ap.add_argument("--requests", type=int, default=1_000_000)
    ap.add_argument("--rate", type=float, default=2500)
    ap.add_argument("--every", type=float, default=2.0, help="RSS sample interval (s)")
    ap.add_argument("--warmup", type=float, default=60, help="seconds left out of the slope")
    ap.add_argument("--scenarios", type=int, default=20)
    ap.add_argument("--models", type=int, default=2)
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--fill", type=float, default=15, help="seconds of load before scraping")
    ap.add_argument("--probes", type=int, default=60, help="canary: probes before measuring")
    ap.add_argument("--interval", type=float, default=1.0, help="canary: seconds between probes")
    ap.add_argument("--minutes", type=float, default=120, help="hours: the run's length")
    ap.add_argument("--page", action="store_true",
                    help="hours: keep the live page open (its /api/v1/view reads)")
    ap.add_argument("--kill-at", type=float, default=0.5, help="hours: when to SIGKILL (share)")
    ap.add_argument("--down", type=float, default=420, help="hours: seconds killed")
    ap.add_argument("--leak", type=int, default=2 << 20, help="hours: simulator bytes/minute")
    ap.add_argument("--drift", type=float, default=0.5, help="hours: simulator ITL growth/hour")
    ap.add_argument("--baseline", type=int, default=10,
                    help="hours: the drift baseline's warm-up and window (minutes each)")
    a = ap.parse_args()
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"{a.bin} not found: cargo build --release first (or pass --bin)")
    os.makedirs(a.out, exist_ok=True)
    result = {"soak": soak, "scrape": scrape, "hours": hours, "canary": canary,
              "resume": resume, "series": series}[a.what](a)
    with open(f"{a.out}/{a.what}.json", "w") as f:
        json.dump(result, f, indent=2)
    shown = {k: v for k, v in result.items() if k not in ("rss_series", "samples_series")}
    print(json.dumps(shown, indent=2))


if __name__ == "__main__":
    main()
