#!/usr/bin/env bash
# Fuzz the SSE framer/chunk parser, the config loader and the gate parser with cargo-fuzz
# (nightly), each for SECONDS (default 600), all at once. Not part of CI. Crashes land in
# fuzz/artifacts/<target>/; add each as a regression input under fuzz/regressions/<target>/
# (tests/checks/fuzz_regressions.rs replays them in CI).
#   scripts/fuzz.sh [SECONDS]
#   DRY_RUN=1 scripts/fuzz.sh 10     # check the arguments and targets only
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-600}
case "$SECONDS_EACH" in ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] (got $SECONDS_EACH)" >&2; exit 64 ;; esac
if [ -n "${DRY_RUN:-}" ]; then
  # Checks the arguments and the fuzz targets without nightly or cargo-fuzz.
  for t in sse config gate; do [ -f "fuzz/fuzz_targets/$t.rs" ] || { echo "no fuzz target $t" >&2; exit 1; }; done
  echo "dry run: would fuzz sse, config and gate for ${SECONDS_EACH}s each ($(command -v cargo-fuzz >/dev/null && echo "cargo-fuzz found" || echo "cargo-fuzz would be installed"))"
  exit 0
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
mkdir -p fuzz/corpus/sse fuzz/corpus/config fuzz/corpus/gate
cp -n tests/fixtures/sse/*.sse fuzz/corpus/sse/ 2>/dev/null || true
cp -n tests/fixtures/config/good/*.toml tests/fixtures/config/bad/*.toml daemon/examples/*.toml fuzz/corpus/config/ 2>/dev/null || true
printf 'ttft.p95 < 800ms' > fuzz/corpus/gate/a
printf 'tpot.mean{scenario="chat"} < 1.1 * baseline + 5ms' > fuzz/corpus/gate/b
cargo +nightly fuzz build   # the same profile `fuzz run` uses (release, debug assertions on)
pids=()
for t in sse config gate; do
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$SECONDS_EACH" -max_len=65536 \
    >"fuzz/$t.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  t=(sse config gate)
  if wait "${pids[$i]}"; then
    echo "${t[$i]}: $(grep -Eo 'stat::number_of_executed_units: [0-9]+' "fuzz/${t[$i]}.log" || tail -1 "fuzz/${t[$i]}.log")"
  else
    echo "${t[$i]}: CRASH (see fuzz/${t[$i]}.log and fuzz/artifacts/${t[$i]}/)"; status=1
  fi
done
exit $status
