#!/usr/bin/env bash
# Compare llm-soak's NVML GPU gauges (hw_*) with nvidia-smi on a machine with an NVIDIA GPU.
#
#   scripts/gpu-check.sh [SECONDS]        # default 60
#
# Starts the built-in simulator and an llm-soak daemon sampling resources every second, puts
# some load on the GPU when python3 has PyTorch (so memory and utilization move), and every
# 5 seconds reads `nvidia-smi --query-gpu=... --format=csv` next to a /metrics scrape. Prints a
# table per reading and a verdict: UUIDs and total memory must match exactly, used memory within
# 2 % + 64 MiB once the load stops allocating, temperature within 10 C (readings up to a second
# apart under a bursty load), the GPU probe status 0; utilization, power and the SM
# clock are sampled by NVML at slightly different instants and are reported, not judged.
# Exit 0 when everything judged agrees. Set LLM_SOAK to the binary (default: target/release).
# DRY_RUN=1 checks the arguments and the binary and says what it would do.
set -euo pipefail

SECONDS_TOTAL=${1:-60}
BIN=${LLM_SOAK:-target/release/llm-soak}
OUT_DIR=${OUT:-$(mktemp -d)}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

case "$SECONDS_TOTAL" in ''|*[!0-9]*) echo "usage: scripts/gpu-check.sh [SECONDS] (got $SECONDS_TOTAL)" >&2; exit 64 ;; esac
[ -x "$BIN" ] || { echo "llm-soak binary not found at $BIN (cargo build --release, or set LLM_SOAK)" >&2; exit 2; }
if [ -n "${DRY_RUN:-}" ]; then
  echo "dry run: would compare $BIN's NVML gauges with nvidia-smi for ${SECONDS_TOTAL}s" \
    "($(command -v nvidia-smi >/dev/null && echo "nvidia-smi found" || echo "no nvidia-smi here"))"
  exit 0
fi
command -v nvidia-smi >/dev/null || { echo "nvidia-smi not found: no NVIDIA driver here" >&2; exit 2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SIM_PORT=$(free_port)
METRICS_PORT=$(free_port)

"$BIN" simulate --listen "127.0.0.1:$SIM_PORT" >"$WORK/sim.log" 2>&1 &
cat >"$WORK/gpu-check.toml" <<EOF
[[target]]
name = "sim"
base_url = "http://127.0.0.1:$SIM_PORT"
model = "llm-soak-sim"

[load]
preset = { name = "steady", rate = 5 }

[[scenario]]
name = "chat"
input_tokens = 64
output_tokens = 16

[resources]
interval = "1s"
gpu = true
EOF
"$BIN" run -c "$WORK/gpu-check.toml" --listen "127.0.0.1:$METRICS_PORT" --wait-ready 30s >"$WORK/daemon.log" 2>&1 &

# GPU load: allocate in steps and multiply matrices, so memory and utilization change.
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  python3 - "$SECONDS_TOTAL" >"$WORK/load.log" 2>&1 <<'PY' &
import sys, time, torch
end = time.time() + float(sys.argv[1])
blocks, a = [], torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
while time.time() < end:
    if len(blocks) < 8:
        blocks.append(torch.empty(1 << 30, dtype=torch.uint8, device="cuda"))  # +1 GiB
    for _ in range(50):
        a = (a @ a).clamp_(-1, 1)
    torch.cuda.synchronize()
    time.sleep(0.5)
PY
  echo "GPU load: PyTorch allocating 1 GiB steps up to 8 GiB and multiplying bf16 matrices"
else
  echo "GPU load: none (no PyTorch with CUDA); readings are of an idle GPU"
fi

for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >/dev/null 2>&1 && break
  sleep 0.5
done

python3 - "$METRICS_PORT" "$SECONDS_TOTAL" "$OUT_DIR/gpu-check.csv" <<'PY'
import subprocess, sys, time, urllib.request, re, csv

port, total, out_csv = sys.argv[1], float(sys.argv[2]), sys.argv[3]
Q = "uuid,name,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu,clocks.sm"

def smi():
    text = subprocess.run(["nvidia-smi", f"--query-gpu={Q}", "--format=csv,noheader,nounits"],
                          capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in text.strip().splitlines():
        f = [x.strip() for x in line.split(",")]
        num = lambda s: float(s) if re.match(r"^[0-9.]+$", s) else None
        rows[f[0]] = {"name": f[1], "util": num(f[2]), "used": num(f[3]), "total": num(f[4]),
                      "power": num(f[5]), "temp": num(f[6]), "sm": num(f[7])}
    return rows

def scrape():
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    g, status = {}, None
    for line in body.splitlines():
        m = re.match(r'^(hw_\w+)\{([^}]*)\} (\S+)$', line)
        if m:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
            g.setdefault(labels.get("hw_id"), {})[m.group(1)] = float(m.group(3))
        m = re.match(r'^llmsoak_probe_status\{[^}]*probe="gpu"[^}]*\} (\S+)$', line)
        if m:
            status = float(m.group(1))
    return g, status

MIB = 1 << 20
rows, failures = [], []
start = time.time()
end = start + total
while time.time() < end:
    time.sleep(5)
    ours, status = scrape()
    theirs = smi()
    if status != 0:
        failures.append(f"GPU probe status {status} (0 = ok)")
    for uuid, s in theirs.items():
        o = ours.get(uuid)
        if o is None:
            failures.append(f"{uuid}: no hw_* series for this GPU")
            continue
        r = {
            "uuid": uuid,
            "util_smi": s["util"], "util_ours": o.get("hw_gpu_utilization_ratio", float("nan")) * 100,
            "used_smi_mib": s["used"], "used_ours_mib": o.get("hw_gpu_memory_usage_bytes", 0) / MIB,
            "total_smi_mib": s["total"], "total_ours_mib": o.get("hw_gpu_memory_limit_bytes", 0) / MIB,
            "power_smi_w": s["power"], "power_ours_w": o.get("hw_power_watts"),
            "temp_smi_c": s["temp"], "temp_ours_c": o.get("hw_temperature_celsius"),
            "sm_smi_mhz": s["sm"], "sm_ours_mhz": (o.get("hw_gpu_clock_sm_hertz") or 0) / 1e6,
            "energy_ours_j": o.get("hw_energy_joules_total"),
        }
        rows.append(r)
        print(" ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()), flush=True)
        if abs(r["total_smi_mib"] - r["total_ours_mib"]) > 1:
            failures.append(f"{uuid}: total memory {r['total_ours_mib']} MiB vs nvidia-smi {r['total_smi_mib']}")
        # Memory moves while the load allocates (first ~15 s): judge it once it is steady.
        steady = time.time() > start + 20
        if steady and abs(r["used_smi_mib"] - r["used_ours_mib"]) > 64 + 0.02 * r["used_smi_mib"]:
            failures.append(f"{uuid}: used memory {r['used_ours_mib']:.0f} MiB vs nvidia-smi {r['used_smi_mib']:.0f}")
        # The two readings are up to one sampling interval apart, and a bursty load moves the
        # temperature several degrees a second: judge only gross disagreement.
        if r["temp_ours_c"] is None or abs(r["temp_smi_c"] - r["temp_ours_c"]) > 10:
            failures.append(f"{uuid}: temperature {r['temp_ours_c']} vs nvidia-smi {r['temp_smi_c']}")

if rows:
    with open(out_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
energy = [r["energy_ours_j"] for r in rows if r["energy_ours_j"] is not None]
print(f"readings: {len(rows)}; energy counter {energy[0] if energy else '-'} -> {energy[-1] if energy else '-'} J; csv: {out_csv}")
if failures:
    print("MISMATCH:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("OK: llm-soak's GPU gauges agree with nvidia-smi")
PY
