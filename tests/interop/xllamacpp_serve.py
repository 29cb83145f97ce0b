#!/usr/bin/env python3
"""(llm-soak's copy of the shared real-servers reference script, for tests/it/interop.rs.)

Run llama.cpp's native HTTP server (embedded in the xllamacpp PyPI wheel) on a GGUF.

Only sets llama.cpp's own server parameters and blocks; all HTTP handling is
llama.cpp's C++ server (OpenAI-compatible /v1/chat/completions, /metrics, ...).
"""
import argparse, os, signal, sys, time

import xllamacpp as xlc

ap = argparse.ArgumentParser()
ap.add_argument("-m", "--model", required=True)
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, default=8080)
ap.add_argument("--alias", default="tiny-random-llama")
ap.add_argument("-c", "--ctx-size", type=int, default=8192, help="total KV cells, shared by slots")
ap.add_argument("-np", "--parallel", type=int, default=8)
ap.add_argument("-t", "--threads", type=int, default=2)
ap.add_argument("--threads-http", type=int, default=16)
ap.add_argument("--no-metrics", action="store_true")
ap.add_argument("--no-cache-prompt", action="store_true",
                help="evaluate every prompt token (llamacpp:prompt_tokens_total then equals usage)")
a = ap.parse_args()

p = xlc.CommonParams()
p.model.path = a.model
p.model_alias = {a.alias} if isinstance(p.model_alias, set) else a.alias
p.hostnames = [a.host] if isinstance(p.hostnames, list) else a.host
p.port = a.port
p.n_ctx = a.ctx_size
p.n_parallel = a.parallel
p.cont_batching = True
p.cache_prompt = not a.no_cache_prompt
p.endpoint_metrics = not a.no_metrics
p.endpoint_slots = True
p.endpoint_props = True
p.use_jinja = True
p.n_threads_http = a.threads_http
p.cpuparams.n_threads = a.threads
p.cpuparams_batch.n_threads = a.threads
p.warmup = True
srv = xlc.Server(p)
print(f"xllamacpp server listening at {srv.listening_address}", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    pass
