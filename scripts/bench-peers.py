#!/usr/bin/env python3
"""Peers side by side: llm-soak, GuideLLM and a Locust streaming harness against the same
simulator on the same machine, at the same closed-loop levels, each compared with the
simulator's ground truth (docs/BENCHMARKS.md).

Every tool runs pinned to the client core (taskset), the simulator to the other, with the
benchmark's deterministic timing (TTFT 100 ms, ITL 20 ms, 200 output tokens, 64-token prompts).
All users start together and the whole run is measured, by the tool and by the simulator alike
(`POST /stats/reset` at the start; the truth covers every completed request), so "error" is
the tool's reported percentile minus the true percentile of the same run.

The peers are installed from PyPI into target/peers-venv on first use (GuideLLM pulls in
PyTorch: several GB). Versions are recorded in the output. The tokenizer GuideLLM needs for its
synthetic prompts is the tiny local one made by scripts/setup-llamacpp.sh (no model hub).

  scripts/bench-peers.py                          # levels 1,32,256,1024, 30 s each
  scripts/bench-peers.py --levels 32 --tools locust --duration 10
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import SIM_TOML, Child, cores, free_port, http, http_json, machine, pinned  # noqa: E402

VENV = "target/peers-venv"
PEERS = {"guidellm": "0.8.1", "locust": "2.47.0"}

PROMPT_WORDS = 48  # about 64 tokens with the chat template

LOCUSTFILE = '''
"""A typical Locust LLM harness: requests' streaming client, TTFT and per-chunk ITL fired as
custom events (what LLM teams write around Locust)."""
import json, time
from locust import HttpUser, constant, events, task

PROMPT = " ".join(["latency"] * %d)
BODY = json.dumps({"model": "llm-soak-sim", "messages": [{"role": "user", "content": PROMPT}],
                   "max_tokens": %d, "stream": True, "stream_options": {"include_usage": True}})


def fire(kind, ms):
    events.request.fire(request_type=kind, name=kind, response_time=ms, response_length=0,
                        exception=None, context={})


class LLMUser(HttpUser):
    wait_time = constant(0)

    @task
    def chat(self):
        start = time.perf_counter()
        first = last = None
        with self.client.post("/v1/chat/completions", data=BODY, stream=True, name="chat",
                              headers={"content-type": "application/json"},
                              catch_response=True) as r:
            for line in r.iter_lines():
                if not line.startswith(b"data: "):
                    continue
                data = line[6:]
                if data == b"[DONE]":
                    break
                choices = json.loads(data).get("choices") or []
                if choices and (choices[0].get("delta") or {}).get("content"):
                    now = time.perf_counter()
                    if first is None:
                        first = now
                        fire("ttft", (now - start) * 1000)
                    else:
                        fire("itl", (now - last) * 1000)
                    last = now
            r.success()
'''


def venv(a):
    py = f"{VENV}/bin/python"
    marker = f"{VENV}/.installed-" + "-".join(f"{k}{v}" for k, v in PEERS.items())
    if not os.path.exists(marker):
        print("==> installing GuideLLM and Locust (PyPI) into " + VENV, file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([f"{VENV}/bin/pip", "install", "-q", "--disable-pip-version-check"]
                       + [f"{k}=={v}" for k, v in PEERS.items()], check=True)
        open(marker, "w").close()
    return py


def tokenizer_dir(work):
    """A Hugging Face tokenizer folder from the tiny local tokenizer (for GuideLLM's prompts)."""
    src = "target/llamacpp/tokenizer.json"
    if not os.path.exists(src):
        subprocess.run(["scripts/setup-llamacpp.sh"], check=True)
    d = f"{work}/tokenizer"
    os.makedirs(d, exist_ok=True)
    shutil.copy(src, f"{d}/tokenizer.json")
    with open(f"{d}/tokenizer_config.json", "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 16384,
                   "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                   "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}, f)
    return d


def run_llm_soak(a, sim, n, d):
    port = free_port()
    with open(f"{d}/run.toml", "w") as f:
        f.write(f"""
seed = 1
[server]
listen = "127.0.0.1:{port}"
[[target]]
name = "sim"
base_url = "http://{sim}"
model = "llm-soak-sim"
pool_max_idle = {n}
request_timeout = "300s"
[load]
mode = "closed"
users = {n}
max_in_flight = {n}
[[scenario]]
name = "bench"
input_tokens = 64
output_tokens = {a.tokens}
""")
    subprocess.run(pinned(a.client_core, [a.bin, "run", "-c", f"{d}/run.toml", "--duration",
                                          f"{a.duration:.0f}s", "--report", f"{d}/r.json"]),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lat = json.load(open(f"{d}/r.json"))["summary"]["all"]["latency"]
    return {"ttft_p50": lat["ttft"]["p50"] * 1000, "ttft_p99": lat["ttft"]["p99"] * 1000,
            "itl_p50": lat["itl"]["p50"] * 1000, "itl_p99": lat["itl"]["p99"] * 1000,
            "requests": lat["ttft"]["samples"]}


def run_locust(a, sim, n, d, py):
    with open(f"{d}/locustfile.py", "w") as f:
        f.write(LOCUSTFILE % (PROMPT_WORDS, a.tokens))
    subprocess.run(pinned(a.client_core, [
        f"{VENV}/bin/locust", "-f", f"{d}/locustfile.py", "--headless", "-u", str(n),
        "-r", str(n), "--run-time", f"{a.duration:.0f}s", "--host", f"http://{sim}",
        "--csv", f"{d}/locust", "--only-summary", "--stop-timeout", "30"]),
        check=False, stdout=subprocess.DEVNULL, stderr=open(f"{d}/locust.log", "w"))
    rows = {r["Name"]: r for r in csv.DictReader(open(f"{d}/locust_stats.csv"))}
    out = {"requests": int(rows["ttft"]["Request Count"])}
    for k in ("ttft", "itl"):
        out[f"{k}_p50"] = float(rows[k]["50%"])
        out[f"{k}_p99"] = float(rows[k]["99%"])
    return out


def run_guidellm(a, sim, n, d, py):
    tok = tokenizer_dir(d)
    subprocess.run(pinned(a.client_core, [
        f"{VENV}/bin/guidellm", "run",
        "--backend", f"kind=openai_http,target=http://{sim},model=llm-soak-sim",
        "--profile", f"kind=concurrent,streams={n}",
        "--constraint", f"kind=max_duration,seconds={a.duration:.0f}",
        "--tokenizer", f"kind=huggingface_auto,model={tok}",
        "--data", f"kind=synthetic_text,prompt_tokens=64,output_tokens={a.tokens}",
        "--output", f"kind=json,path={d}/guidellm.json", "--disable-progress"]),
        check=False, stdout=open(f"{d}/guidellm.log", "w"), stderr=subprocess.STDOUT)
    doc = json.load(open(f"{d}/guidellm.json"))
    m = doc["benchmarks"][0]["metrics"]

    def pct(name, q):
        s = m[name]["successful"]
        return s["percentiles"][q]

    return {"ttft_p50": pct("time_to_first_token_ms", "p50"),
            "ttft_p99": pct("time_to_first_token_ms", "p99"),
            "itl_p50": pct("inter_token_latency_ms", "p50"),
            "itl_p99": pct("inter_token_latency_ms", "p99"),
            "requests": m["request_totals"]["successful"]}


def case(a, tool, n, work, py):
    d = tempfile.mkdtemp(prefix=f"{tool}-{n}-", dir=work)
    with open(f"{d}/sim.toml", "w") as f:
        f.write(SIM_TOML.format(ttft=f"{a.ttft_ms}ms", itl=f"{a.itl_ms}ms", tokens=a.tokens))
    sim = Child(pinned(a.sim_core, [a.bin, "simulate", "-c", f"{d}/sim.toml",
                                     "--listen", "127.0.0.1:0"]), f"{d}/sim.log")
    try:
        addr = sim.wait_for("listening on http://").split()[0]
        http(f"http://{addr}/stats/reset", "POST")
        t0 = time.time()
        got = {"llm-soak": lambda: run_llm_soak(a, addr, n, d),
               "locust": lambda: run_locust(a, addr, n, d, py),
               "guidellm": lambda: run_guidellm(a, addr, n, d, py)}[tool]()
        truth = http_json(f"http://{addr}/stats")
    except (OSError, KeyError, ValueError, IndexError, subprocess.CalledProcessError) as e:
        print(f"    {tool} at {n}: failed: {e!r} (logs in {d})", file=sys.stderr)
        return None
    finally:
        sim.close()
    ms = 1000
    row = {"tool": tool, "streams": n, "wall_s": round(time.time() - t0, 1), **got,
           "true_ttft_p50": truth["ttft"]["p50"] * ms, "true_ttft_p99": truth["ttft"]["p99"] * ms,
           "true_itl_p50": truth["chunk_gap"]["p50"] * ms,
           "true_itl_p99": truth["chunk_gap"]["p99"] * ms,
           "true_requests": truth["ttft"]["samples"],
           "simulator_late_p99_ms": truth["write_lateness"]["p99"] * ms}
    for k in ("ttft_p50", "ttft_p99", "itl_p50", "itl_p99"):
        row[f"{k}_error"] = row[k] - row[f"true_{k}"]
    if not a.keep:
        shutil.rmtree(d, ignore_errors=True)
    return row


def markdown(rows, meta):
    out = [f"{meta['machine']} · simulator on core {meta['sim_core']}, tool on core "
           f"{meta['client_core']} · TTFT {meta['ttft_ms']} ms, ITL {meta['itl_ms']} ms, "
           f"{meta['tokens']} tokens · {meta['duration']} s per run · {meta['date']} · "
           + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()), "",
           "| streams | tool | requests (tool/true) | TTFT p50 true → reported (error) ms | "
           "TTFT p99 true → reported (error) ms | ITL p50 true → reported ms | "
           "ITL p99 true → reported (error) ms | sim late p99 ms |",
           "|" + "---|" * 8]
    for r in rows:
        out.append(
            f"| {r['streams']} | {r['tool']} | {r['requests']}/{r['true_requests']} | "
            f"{r['true_ttft_p50']:.1f} → {r['ttft_p50']:.1f} ({r['ttft_p50_error']:+.1f}) | "
            f"{r['true_ttft_p99']:.1f} → {r['ttft_p99']:.1f} ({r['ttft_p99_error']:+.1f}) | "
            f"{r['true_itl_p50']:.2f} → {r['itl_p50']:.2f} | "
            f"{r['true_itl_p99']:.2f} → {r['itl_p99']:.2f} ({r['itl_p99_error']:+.2f}) | "
            f"{r['simulator_late_p99_ms']:.2f} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/llm-soak")
    ap.add_argument("--levels", default="1,32,256,1024")
    ap.add_argument("--tools", default="llm-soak,guidellm,locust")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--ttft-ms", type=int, default=100)
    ap.add_argument("--itl-ms", type=int, default=20)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--out", default="target/bench")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--dry-run", action="store_true",
                    help="check the arguments, print the plan and exit (installs nothing)")
    a = ap.parse_args()
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"{a.bin} not found: cargo build --release first (or pass --bin)")
    a.sim_core, a.client_core = cores()
    tools = [t for t in a.tools.split(",") if t]
    unknown = set(tools) - {"llm-soak"} - set(PEERS)
    if unknown:
        sys.exit(f"unknown tools {sorted(unknown)}: one of llm-soak, {', '.join(PEERS)}")
    levels = [int(x) for x in a.levels.split(",") if x]
    if a.dry_run:
        print(f"dry run: {', '.join(tools)} at {levels} streams, {a.duration:g} s each; peers "
              f"{'already' if os.path.exists(VENV) else 'would be'} installed in {VENV}")
        return
    py = venv(a) if set(tools) - {"llm-soak"} else sys.executable
    versions = {"llm-soak": subprocess.run([a.bin, "--version"], capture_output=True,
                                           text=True).stdout.split()[-1]}
    for k in PEERS:
        if k in tools:
            versions[k] = subprocess.run([f"{VENV}/bin/pip", "show", k], capture_output=True,
                                         text=True).stdout.split("Version: ")[1].split()[0]
    meta = {"machine": machine(), "sim_core": a.sim_core,
            "client_core": a.client_core, "ttft_ms": a.ttft_ms, "itl_ms": a.itl_ms,
            "tokens": a.tokens, "duration": a.duration, "date": time.strftime("%Y-%m-%d"),
            "versions": versions, "command": " ".join(sys.argv)}
    work = tempfile.mkdtemp(prefix="llm-soak-peers-")
    rows = []
    for n in [int(x) for x in a.levels.split(",") if x]:
        for tool in tools:
            print(f"==> {tool} at {n} streams", file=sys.stderr, flush=True)
            row = case(a, tool, n, work, py)
            if row:
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(a.out, exist_ok=True)
    with open(f"{a.out}/peers.json", "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=2)
    table = markdown(rows, meta)
    with open(f"{a.out}/peers.md", "w") as f:
        f.write(table)
    print(table)


if __name__ == "__main__":
    main()
