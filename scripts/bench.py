#!/usr/bin/env python3
"""llm-soak's accuracy and capacity benchmark against the built-in simulator's ground truth.

For each case it starts `llm-soak simulate` pinned to one core (taskset) with deterministic
timing (TTFT 100 ms, ITL 20 ms — 80 ms from 2048 streams up (--slow-from), so the simulator
keeps up — and
200 output tokens, no jitter, no prefix cache, no batch limit) and `llm-soak run` pinned to the
other, then compares what llm-soak reported with what the simulator did:

  - TTFT: per request, joined by sequence number (x-llmsoak-seq) with the simulator's row
    (POST /stats/requests/drain, polled), so "excess" is exactly client − server for that request
  - per-chunk ITL: llm-soak's distribution against the simulator's true chunk gaps
  - TPOT mean, streams actually held (sampled from the simulator), llm-soak's CPU (user+sys from
    /proc, as a fraction of one core) and peak RSS, schedule lag p99 (request log), dropped

Cases: closed loop with all users starting at once ("lock-step": every stream's chunk is due at
the same instant, so the burst is real queueing in the client, not measurement error) and with
starts spread over a ramp ("ramped"), at each level; and open-loop Poisson rates. Only the
measured window counts: from one full request after the last user started to the end.

A case where the simulator itself wrote late (per-chunk write-lateness p99 above --late-ms;
tokio's 1 ms timer wheel alone gives about 2 ms) is flagged and its accuracy not counted.
Results go to OUT/results.json and OUT/results.md.

With --reader (the floor: `cargo build --release --example min-reader`), each closed-loop case
runs again with that reader in llm-soak's place — same simulator set-up, core, streams, ramp and
measured window — and the table gets its CPU and peak RSS beside llm-soak's, and the ratio.

  scripts/bench.py                       # the full table (about 15 minutes)
  scripts/bench.py --levels 1024 --modes ramped --no-open --reader target/release/examples/min-reader
  scripts/bench.py --levels 1,32 --modes ramped --duration 10 --no-open   # a quick look
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", timeout=30):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def http_json(url, method="GET"):
    return json.loads(http(url, method))


def cpu_seconds(pid):
    """user + sys CPU seconds of a process (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def mem_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def quantile(sorted_values, q):
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, int(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[i]


def scrape_sum(url, name):
    total = 0.0
    for line in http(url).decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def cores():
    """(simulator core, client core) for taskset, or (None, None) without two CPUs or taskset."""
    cpus = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") and len(cpus) >= 2:
        return cpus[0], cpus[1]
    return None, None


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), "unknown CPU")
    return f"{model}, {os.cpu_count()} CPUs"


def pinned(core, argv):
    if core is not None:
        return ["taskset", "-c", str(core)] + argv
    return argv


class Child:
    """A process whose stdout is read by a thread; killed on close."""

    def __init__(self, argv, log):
        self.log = open(log, "w")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                  env={**os.environ, "RUST_LOG": "warn"})
        self.lines = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)

    def wait_for(self, marker, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in list(self.lines):
                if marker in line:
                    return line.split(marker, 1)[1].strip()
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"no {marker!r} from {self.p.args}: {''.join(self.lines)[-2000:]}")

    def close(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
        self.p.wait()
        self.log.close()


SIM_TOML = """
[simulator]
model = "llm-soak-sim"
batch_capacity = 100000
prefill_base = "{ttft}"
prefill_per_token = "0s"
itl_base = "{itl}"
itl_per_seq = "0s"
jitter = 0.0
kv_cache_tokens = 2000000000
prefix_cache_blocks = 0
default_max_tokens = {tokens}
early_stop = 0.0
"""

RUN_TOML = """
seed = 1
[server]
listen = "127.0.0.1:{port}"

[[target]]
name = "sim"
base_url = "http://{sim}"
model = "llm-soak-sim"
request_timeout = "300s"
idle_timeout = "120s"
stall_threshold = "10s"
pool_max_idle = {pool}

[load]
{load}

[output]
requests_jsonl = {{ path = "{log}", max_bytes = 1073741824, keep = 1 }}

[[scenario]]
name = "bench"
endpoint = "chat"
input_tokens = 64
output_tokens = {tokens}
"""


def timing(a, case, itl_ms):
    """(one request's seconds, warm-up, total): the warm-up is the ramp plus one full request,
    so every stream is past its connection set-up before the measured window opens."""
    request_s = (a.ttft_ms + (a.tokens - 1) * itl_ms) / 1000
    warmup = case.get("ramp", 0) + request_s + 1
    return request_s, warmup, warmup + a.duration


def start_sim(a, d, itl_ms):
    """The case's simulator, pinned to its core: (the child, its address)."""
    with open(f"{d}/sim.toml", "w") as f:
        f.write(SIM_TOML.format(ttft=f"{a.ttft_ms}ms", itl=f"{itl_ms}ms", tokens=a.tokens))
    sim = Child(pinned(a.sim_core, [a.bin, "simulate", "-c", f"{d}/sim.toml",
                                     "--listen", "127.0.0.1:0"]), f"{d}/sim.log")
    return sim, sim.wait_for("listening on http://").split()[0]


def run_reader(a, case, work, itl_ms):
    """The floor on one closed-loop case: the reader's CPU (cores) and peak RSS over the same
    measured window as llm-soak's, on the same core, against the same simulator set-up."""
    streams, ramp = case["streams"], case.get("ramp", 0)
    request_s, warmup, total = timing(a, case, itl_ms)
    d = tempfile.mkdtemp(prefix="reader-", dir=work)
    sim, reader = None, None
    try:
        sim, sim_addr = start_sim(a, d, itl_ms)
        reader = subprocess.Popen(pinned(a.client_core, [
            a.reader, sim_addr, str(streams), str(ramp), f"{total:.1f}", str(a.tokens)]),
            stdout=subprocess.PIPE, text=True)
        time.sleep(warmup)
        cpu0, t0 = cpu_seconds(reader.pid), time.time()
        time.sleep(a.duration - 0.5)
        cpu1, t1 = cpu_seconds(reader.pid), time.time()
        peak_rss = mem_kib(reader.pid, "VmHWM") * 1024
        out, _ = reader.communicate(timeout=request_s * 2 + 60)
        if reader.returncode != 0:
            sys.exit(f"the reader failed ({reader.returncode}) on {case['name']}")
        done = json.loads(out)
    finally:
        if reader and reader.poll() is None:
            reader.kill()
        if sim:
            sim.close()
    shutil.rmtree(d, ignore_errors=True)
    return {"reader_cpu_cores": round((cpu1 - cpu0) / (t1 - t0), 3),
            "reader_peak_rss_mib": round(peak_rss / 2**20, 1),
            "reader_requests": done["requests"], "reader_reads": done["reads"]}


def run_case(a, case, work):
    """One case: returns the row for the table."""
    name, streams, rate = case["name"], case.get("streams"), case.get("rate")
    high = (streams or 0) >= a.slow_from or (rate or 0) * (a.ttft_ms + a.tokens * 20) / 1000 >= a.slow_from
    itl_ms = a.slow_itl_ms if high else a.itl_ms
    request_s, warmup, total = timing(a, case, itl_ms)
    ramp = case.get("ramp", 0)
    slug = "".join(c if c.isalnum() else "-" for c in name)
    d = tempfile.mkdtemp(prefix=slug + "-", dir=work)
    sim, daemon = None, None
    # An overloaded client: busy loops on the client's core take most of its CPU.
    hogs = [subprocess.Popen(pinned(a.client_core, [sys.executable, "-c", "while True: pass"]))
            for _ in range(case.get("hog", 0))]
    try:
        sim, sim_addr = start_sim(a, d, itl_ms)
        if streams is not None:
            users = (f'{{ from = 1, to = {streams}, over = "{ramp}s" }}'
                     if ramp and streams > 1 else str(streams))
            load = f'mode = "closed"\nusers = {users}\nmax_in_flight = {streams}'
            pool = streams
        else:
            load = (f'mode = "open"\narrival = "poisson"\nmax_in_flight = 8192\n'
                    f'[[load.phases]]\nkind = "steady"\nrate = {rate}\nduration = "{int(total)}s"')
            pool = 8192
        port = free_port()
        with open(f"{d}/run.toml", "w") as f:
            f.write(RUN_TOML.format(port=port, sim=sim_addr, pool=pool, load=load,
                                    log=f"{d}/requests.jsonl", tokens=a.tokens))
        daemon = Child(pinned(a.client_core, [
            a.bin, "run", "-c", f"{d}/run.toml", "--duration", f"{total:.0f}s",
            "--warmup", f"{warmup:.0f}s", "--report", f"{d}/report.json"]), f"{d}/run.log")
        pid = daemon.p.pid
        metrics = f"http://127.0.0.1:{port}/metrics"
        truth_rows = {}

        def drain():
            for row in http_json(f"http://{sim_addr}/stats/requests/drain", "POST"):
                if row.get("seq") is not None:
                    truth_rows[row["seq"]] = row

        start = time.time()
        # Warm-up: ramp, plus one full request so every user is past its connection set-up.
        while time.time() - start < warmup:
            time.sleep(1)
            drain()
        # Rows finished so far are collected before the reset clears the simulator's truth; the
        # per-request join then only counts requests sent after the reset (below).
        drain()
        http(f"http://{sim_addr}/stats/reset", "POST")
        reset_at = time.time()
        cpu0, t0 = cpu_seconds(pid), time.time()
        held, in_flight = [], []
        scraped = 0.0
        while time.time() - start < total - 0.5 and daemon.p.poll() is None:
            time.sleep(1)
            held.append(http_json(f"http://{sim_addr}/stats")["running"])
            # Scraped as Prometheus would (every 15 s): the scrape's cost is part of the run.
            if time.time() - scraped >= 15:
                scraped = time.time()
                in_flight.append(scrape_sum(metrics, "llmsoak_requests_in_flight"))
            drain()
        cpu1, t1 = cpu_seconds(pid), time.time()
        peak_rss = mem_kib(pid, "VmHWM") * 1024
        truth = http_json(f"http://{sim_addr}/stats")
        daemon.p.wait(timeout=request_s * 2 + 60)
        drain()
        with open(f"{d}/report.json") as f:
            report = json.load(f)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
        if daemon:
            daemon.close()
        if sim:
            sim.close()

    lat = report["summary"]["all"]["latency"]
    # The per-request join: requests sent inside the measured window.
    records = []
    with open(f"{d}/requests.jsonl") as f:
        for line in f:
            r = json.loads(line)
            r["sent"] = r["ts"] - r["e2e"]
            records.append(r)
    first = min(r["sent"] for r in records) if records else 0
    # Sent after the daemon's warm-up and after the simulator's reset: both sides measured them.
    measured = [r for r in records if r["sent"] >= max(first + warmup, reset_at)]
    joined = [(r, truth_rows[r["seq"]]) for r in measured
              if r["outcome"] == "success" and r["seq"] in truth_rows
              and truth_rows[r["seq"]].get("ttft_us") is not None]
    excess = sorted(r["ttft"] - t["ttft_us"] / 1e6 for r, t in joined)
    true_ttft = sorted(t["ttft_us"] / 1e6 for _, t in joined)
    tpot_err = sorted(abs(r["tpot"] - t["tpot_us"] / 1e6) for r, t in joined
                      if r["tpot"] is not None and t.get("tpot_us") is not None)
    lag = sorted(r["schedule_lag"] for r in measured)
    late_p99 = truth["write_lateness"]["p99"]
    trust = report["summary"].get("trust") or {}
    ms = 1000.0
    row = {
        "case": name,
        "mode": case["mode"],
        "streams": streams,
        "rate": rate,
        "itl_ms": itl_ms,
        "measured_s": round(t1 - t0, 1),
        "requests_measured": len(measured),
        "requests_joined": len(joined),
        "errors": sum(1 for r in measured if r["outcome"] != "success"),
        "dropped": report["requests"]["dropped"],
        "ttft_true_p50_ms": quantile(true_ttft, 0.5) and quantile(true_ttft, 0.5) * ms,
        "ttft_true_p99_ms": quantile(true_ttft, 0.99) and quantile(true_ttft, 0.99) * ms,
        "ttft_reported_p50_ms": lat["ttft"]["p50"] and lat["ttft"]["p50"] * ms,
        "ttft_reported_p99_ms": lat["ttft"]["p99"] and lat["ttft"]["p99"] * ms,
        "ttft_excess_min_ms": excess[0] * ms if excess else None,
        "ttft_excess_p50_ms": quantile(excess, 0.5) and quantile(excess, 0.5) * ms,
        "ttft_excess_p99_ms": quantile(excess, 0.99) and quantile(excess, 0.99) * ms,
        "ttft_excess_max_ms": excess[-1] * ms if excess else None,
        "itl_true_p50_ms": truth["chunk_gap"]["p50"] * ms,
        "itl_true_p99_ms": truth["chunk_gap"]["p99"] * ms,
        "itl_reported_p50_ms": lat["itl"]["p50"] and lat["itl"]["p50"] * ms,
        "itl_reported_p99_ms": lat["itl"]["p99"] and lat["itl"]["p99"] * ms,
        "tpot_true_mean_ms": truth["tpot"]["mean"] * ms,
        "tpot_reported_mean_ms": lat["tpot"]["mean"] and lat["tpot"]["mean"] * ms,
        "tpot_abs_error_p99_ms": quantile(tpot_err, 0.99) and quantile(tpot_err, 0.99) * ms,
        "streams_held_min": min(held) if held else None,
        "streams_held_mean": round(sum(held) / len(held), 1) if held else None,
        "client_in_flight_max": max(in_flight) if in_flight else None,
        "cpu_cores": round((cpu1 - cpu0) / (t1 - t0), 3),
        "peak_rss_mib": round(peak_rss / 2**20, 1),
        "schedule_lag_p99_ms": quantile(lag, 0.99) and quantile(lag, 0.99) * ms,
        "simulator_late_p99_ms": late_p99 * ms,
        # The client's self-certification: its verdict and the bound it states.
        "trust": trust.get("verdict"),
        "client_lag_p99_ms": trust.get("bound_p99") and trust["bound_p99"] * ms,
        "trust_reasons": trust.get("reasons", []),
        "trusted": late_p99 * ms <= a.late_ms,
    }
    if row["itl_reported_p99_ms"] is not None:
        row["itl_error_p50_ms"] = row["itl_reported_p50_ms"] - row["itl_true_p50_ms"]
        row["itl_error_p99_ms"] = row["itl_reported_p99_ms"] - row["itl_true_p99_ms"]
    if not a.keep:
        shutil.rmtree(d, ignore_errors=True)
    if a.reader and streams is not None:
        row.update(run_reader(a, case, work, itl_ms))
        row["cpu_ratio"] = round(row["cpu_cores"] / row["reader_cpu_cores"], 2) \
            if row["reader_cpu_cores"] else None
    return row


def fmt(v, digits=2):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def markdown(rows, meta):
    out = [f"{meta['version']} · {meta['machine']} · simulator on core {meta['sim_core']}, "
           f"llm-soak on core {meta['client_core']} · TTFT {meta['ttft_ms']} ms, "
           f"{meta['tokens']} output tokens · {meta['duration']} s measured per case · {meta['date']}",
           "",
           "| case | streams held (mean) | TTFT true p50/p99 ms | TTFT reported p50/p99 ms | "
           "TTFT excess p50/p99/max ms | ITL true p50/p99 ms | ITL reported p50/p99 ms | "
           "TPOT true/reported mean ms | CPU (cores) | peak RSS MiB | lag p99 ms | "
           "errors/dropped | sim late p99 ms | trust: verdict, client lag p99 ms |",
           "|" + "---|" * 14]
    for r in rows:
        flag = "" if r["trusted"] else " ⚠ simulator late: not counted"
        out.append(
            f"| {r['case']} | {fmt(r['streams_held_mean'], 0)} | "
            f"{fmt(r['ttft_true_p50_ms'], 1)} / {fmt(r['ttft_true_p99_ms'], 1)} | "
            f"{fmt(r['ttft_reported_p50_ms'], 1)} / {fmt(r['ttft_reported_p99_ms'], 1)} | "
            f"{fmt(r['ttft_excess_p50_ms'])} / {fmt(r['ttft_excess_p99_ms'])} / "
            f"{fmt(r['ttft_excess_max_ms'])} | "
            f"{fmt(r['itl_true_p50_ms'])} / {fmt(r['itl_true_p99_ms'])} | "
            f"{fmt(r['itl_reported_p50_ms'])} / {fmt(r['itl_reported_p99_ms'])} | "
            f"{fmt(r['tpot_true_mean_ms'], 3)} / {fmt(r['tpot_reported_mean_ms'], 3)} | "
            f"{fmt(r['cpu_cores'], 3)} | {fmt(r['peak_rss_mib'], 1)} | "
            f"{fmt(r['schedule_lag_p99_ms'])} | {r['errors']}/{r['dropped']} | "
            f"{fmt(r['simulator_late_p99_ms'])}{flag} | "
            f"{r.get('trust') or '–'}, {fmt(r.get('client_lag_p99_ms'), 3)} |")
    floor = [r for r in rows if r.get("reader_cpu_cores") is not None]
    if floor:
        out += ["", "| case | llm-soak CPU (cores) | reader CPU (cores) | ratio | llm-soak peak RSS MiB | "
                "reader peak RSS MiB |", "|" + "---|" * 6]
        out += [f"| {r['case']} | {fmt(r['cpu_cores'], 3)} | {fmt(r['reader_cpu_cores'], 3)} | "
                f"{fmt(r['cpu_ratio'])} | {fmt(r['peak_rss_mib'], 1)} | {fmt(r['reader_peak_rss_mib'], 1)} |"
                for r in floor]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/llm-soak")
    ap.add_argument("--levels", default="1,32,256,1024,2048,4096",
                    help="closed-loop concurrent streams")
    ap.add_argument("--modes", default="lockstep,ramped", help="lockstep and/or ramped")
    ap.add_argument("--rates", default="10,100,250", help="open-loop Poisson rates (req/s)")
    ap.add_argument("--no-open", action="store_true", help="skip the open-loop rates")
    ap.add_argument("--duration", type=float, default=30, help="measured seconds per case")
    ap.add_argument("--ramp", type=float, default=10, help="ramped starts: seconds to start all")
    ap.add_argument("--ttft-ms", type=int, default=100)
    ap.add_argument("--itl-ms", type=int, default=20)
    ap.add_argument("--slow-itl-ms", type=int, default=80,
                    help="ITL from --slow-from streams up, so the simulator keeps up")
    ap.add_argument("--slow-from", type=int, default=2048)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--late-ms", type=float, default=3.0,
                    help="simulator write-lateness p99 above which a case is not counted")
    ap.add_argument("--out", default="target/bench")
    ap.add_argument("--keep", action="store_true", help="keep each case's logs and reports")
    ap.add_argument("--hog", type=int, default=0,
                    help="also run each closed-loop case with N busy loops on the client's core "
                         "(an overloaded client: the trust verdict must say so)")
    ap.add_argument("--reader", help="the minimal reader (target/release/examples/min-reader): "
                                     "run each closed-loop case with it too, for the CPU ratio")
    ap.add_argument("--dry-run", action="store_true",
                    help="print the cases the arguments describe and exit")
    a = ap.parse_args()
    if not a.dry_run and not os.access(a.bin, os.X_OK):
        sys.exit(f"{a.bin} not found: cargo build --release first (or pass --bin)")
    if a.reader and not a.dry_run and not os.access(a.reader, os.X_OK):
        sys.exit(f"{a.reader} not found: cargo build --release --example min-reader first")
    a.sim_core, a.client_core = cores()
    cases = []
    for n in [int(x) for x in a.levels.split(",") if x]:
        for mode in [m for m in a.modes.split(",") if m]:
            if mode == "ramped" and n == 1:
                continue  # one stream has nothing to spread
            cases.append({"name": f"closed {mode} {n}", "mode": mode, "streams": n,
                          "ramp": a.ramp if mode == "ramped" else 0})
            if a.hog:
                cases.append({"name": f"closed {mode} {n} + {a.hog} busy loops", "mode": mode,
                              "streams": n, "ramp": a.ramp if mode == "ramped" else 0,
                              "hog": a.hog})
    if not a.no_open:
        for r in [float(x) for x in a.rates.split(",") if x]:
            cases.append({"name": f"open {r:g}/s", "mode": "open", "rate": r})
    if a.dry_run:
        print(f"dry run: {a.bin}, cores {a.sim_core}/{a.client_core}; cases:")
        for c in cases:
            print(f"  {c['name']}")
        return
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="llm-soak-bench-")
    version = subprocess.run([a.bin, "--version"], capture_output=True, text=True).stdout.strip()
    meta = {"version": version, "machine": machine(),
            "sim_core": a.sim_core, "client_core": a.client_core, "ttft_ms": a.ttft_ms,
            "tokens": a.tokens, "duration": a.duration,
            "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv)}
    rows = []
    for case in cases:
        print(f"==> {case['name']}", file=sys.stderr, flush=True)
        rows.append(run_case(a, case, work))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    shutil.rmtree(work, ignore_errors=True)
    with open(f"{a.out}/results.json", "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=2)
    table = markdown(rows, meta)
    with open(f"{a.out}/results.md", "w") as f:
        f.write(table)
    print(table)


if __name__ == "__main__":
    main()
