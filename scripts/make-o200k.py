#!/usr/bin/env python3
"""Write daemon/src/workload/o200k/o200k_base.bin, the compact rank table of OpenAI's o200k_base
BPE that llm-soak embeds (daemon/src/workload/bpe.rs): for each rank from 0 in order, one byte
with the token's length, then its bytes — 1.6 MB, read in place, where the upstream text form
(base64 and a rank per line, 3.6 MB) is parsed into three hash maps of tens of MB.

The source is the upstream file as tiktoken-rs ships it (MIT, OpenAI's tiktoken):

    scripts/make-o200k.py [path/to/o200k_base.tiktoken]

(default: tiktoken-rs 0.12.1's copy in the cargo registry). The unit test
workload::bpe::tests::every_rank_is_tiktokens checks the committed table against tiktoken-rs,
rank by rank, and the encoder against tiktoken-rs's on the corpus and edge cases.
"""
import base64
import glob
import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "daemon/src/workload/o200k/o200k_base.bin"


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1].startswith("-")):
        sys.exit(__doc__)
    if len(sys.argv) == 2:
        src = sys.argv[1]
    else:
        home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
        found = glob.glob(f"{home}/registry/src/*/tiktoken-rs-0.12.1/assets/o200k_base.tiktoken")
        if not found:
            sys.exit("no tiktoken-rs 0.12.1 in the cargo registry (run cargo fetch) and no path given")
        src = found[0]
    out = bytearray()
    for expected, line in enumerate(Path(src).read_text().splitlines()):
        token, rank = line.split(" ")
        if int(rank) != expected:
            sys.exit(f"{src}: rank {rank} where {expected} was expected (the table must be dense)")
        raw = base64.b64decode(token)
        if not 0 < len(raw) < 256:
            sys.exit(f"{src}: rank {rank} has {len(raw)} bytes")
        out.append(len(raw))
        out += raw
    OUT.write_bytes(bytes(out))
    print(f"wrote {OUT} ({len(out)} bytes, {expected + 1} ranks, sha256 {hashlib.sha256(out).hexdigest()})")


if __name__ == "__main__":
    main()
