#!/usr/bin/env python3
"""Train the small byte-level BPE tokenizer used by the tests (tests/fixtures/tokenizer/).

It has the shape of a real model family's tokenizer.json (byte-level BPE with the GPT-2 /
Llama-3 pre-tokenizer and decoder, special tokens), trained on llm-soak's embedded corpus, so the
Hugging Face code path is exercised without a model hub. Reproduce with:

    python3 -m venv /tmp/tok && /tmp/tok/bin/pip install tokenizers==0.23.3
    /tmp/tok/bin/python scripts/make-tokenizer.py
"""
import pathlib

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

root = pathlib.Path(__file__).resolve().parent.parent
corpus = root / "daemon/src/workload/corpus/jargon.txt"
out = root / "tests/fixtures/tokenizer/bpe-2k.json"

tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(
    vocab_size=2048,
    min_frequency=2,
    special_tokens=["<|begin_of_text|>", "<|end_of_text|>"],
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
)
tok.train([str(corpus)], trainer)
out.parent.mkdir(parents=True, exist_ok=True)
tok.save(str(out))
print(f"wrote {out} ({out.stat().st_size} bytes, vocab {tok.get_vocab_size()})")
