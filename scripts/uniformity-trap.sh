#!/usr/bin/env bash
# The prompt-uniformity trap, measured: the same offered load against the built-in simulator
# (prefix cache on), once with a realistic prompt distribution and once with `uniform = true`
# (one fixed prompt). Prints TTFT mean/p99 side by side and the simulator's prefix-cache hit rate.
# Usage: scripts/uniformity-trap.sh [DURATION]   (default 60s per run; loopback only)
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-60s}"
cargo build --release --quiet
bin=target/release/llm-soak
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
  "$bin" run -c "$work/$1.toml" --listen 127.0.0.1:0 --duration "$duration" > "$work/$1.out" 2>/dev/null
  curl -s "http://$addr/stats" > "$work/$1.stats" 2>/dev/null || true
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run realistic ""
run uniform "uniform = true"

printf '\n%-12s %10s %10s %10s %10s %14s\n' "workload" "requests" "TTFT mean" "TTFT p50" "TTFT p99" "prefix hits"
for name in realistic uniform; do
  read -r _ n mean p50 _ p99 _ < <(grep '^ttft ' "$work/$name.out")
  hits=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1])); q=s['prefix_cache_queries']; print(f\"{100*s['prefix_cache_hits']/q:.1f} %\" if q else '-')" "$work/$name.stats")
  printf '%-12s %10s %9ss %9ss %9ss %14s\n' "$name" "$n" "$mean" "$p50" "$p99" "$hits"
done
