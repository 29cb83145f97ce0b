#!/usr/bin/env bash
# The prompt-uniformity trap, measured: the same offered load against the built-in simulator
# (prefix cache on), once with a realistic prompt distribution and once with `uniform = true`
# (one fixed prompt). Prints TTFT mean/p99 side by side and the simulator's prefix-cache hit rate.
# Usage: scripts/uniformity-trap.sh [DURATION]   (default 60s per run; loopback only)
#        BIN=target/debug/llm-soak scripts/uniformity-trap.sh 3s   (no release build)
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-60s}"
# BIN=path uses that binary (the docs test passes the debug build) instead of building release.
bin="${BIN:-target/release/llm-soak}"
[ -n "${BIN:-}" ] || cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/sim.toml" <<'TOML'
[simulator]
batch_capacity = 32
prefill_base = "15ms"
prefill_per_token = "200us"   # 5k tokens/s prefill: long prompts cost real time when uncached
itl_base = "20ms"
itl_per_seq = "400us"
TOML

run() { # $1 = name, $2 = extra scenario lines
  "$bin" simulate -c "$work/sim.toml" --listen 127.0.0.1:0 > "$work/sim-$1.out" 2>/dev/null &
  local pid=$!
  for _ in $(seq 50); do grep -q 'listening on' "$work/sim-$1.out" 2>/dev/null && break; sleep 0.1; done
  local addr
  addr=$(sed -n 's/.*listening on http:\/\/\([^ ]*\).*/\1/p' "$work/sim-$1.out")
  cat > "$work/$1.toml" <<TOML
seed = 1
[[target]]
name = "sim"
base_url = "http://$addr"
model = "llm-soak-sim"
[load]
arrival = "poisson"
max_in_flight = 256
[[load.phases]]
kind = "steady"
rate = 4
duration = "forever"
[[scenario]]
name = "chat"
input_tokens = { lognormal = { mean = 1024, stddev = 512 }, min = 64, max = 4096 }
output_tokens = 64
$2
TOML
  "$bin" run -c "$work/$1.toml" --listen 127.0.0.1:0 --duration "$duration" \
    --report "$work/$1.json" > "$work/$1.out" 2>/dev/null
  curl -s "http://$addr/stats" > "$work/$1.stats" 2>/dev/null || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run realistic ""
run uniform "uniform = true"

# Read from the JSON report (--report) and the simulator's /stats, never the terminal table.
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
print(f"\n{'workload':<12} {'requests':>10} {'TTFT mean':>10} {'TTFT p50':>10} {'TTFT p99':>10} {'prefix hits':>14}")
for name in ("realistic", "uniform"):
    all_ = json.load(open(f"{work}/{name}.json"))["summary"]["all"]
    ttft = all_["latency"]["ttft"]
    s = json.load(open(f"{work}/{name}.stats"))
    q = s["prefix_cache_queries"]
    hits = f"{100 * s['prefix_cache_hits'] / q:.1f} %" if q else "-"
    sec = lambda v: "-" if v is None else f"{v:.3f}s"
    print(f"{name:<12} {ttft['samples']:>10} {sec(ttft['mean']):>10} {sec(ttft['p50']):>10} "
          f"{sec(ttft['p99']):>10} {hits:>14}")
PY
