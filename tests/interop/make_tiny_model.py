#!/usr/bin/env python3
"""Make a tiny random-weight Llama model, locally, with a real trained tokenizer.

(llm-soak's copy of the reference script in the team's shared real-servers kit, with a
--tokenizer output added: the interop test and the vLLM recipe in docs/BENCHMARKS.md use it.)

Writes a GGUF file (for llama.cpp's llama-server) and/or a Hugging Face folder
(config.json + model.safetensors + tokenizer.json, for vLLM / transformers).
Both hold the same weights. Needs only: numpy, tokenizers, gguf (for --gguf),
safetensors (for --hf). No model hub, no torch.

The tokenizer is a byte-level BPE (GPT-2 style) trained here on the Python
standard library's source text, so it can encode any input.
Special tokens: <|endoftext|> (bos/eos), <|im_start|>, <|im_end|> (chatml).
The output layer is built so that special tokens are (practically) never
sampled: generation runs until max_tokens, which suits load testing.
"""
import argparse, glob, json, os, sys, sysconfig

import numpy as np

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
          "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def corpus(max_bytes):
    root = sysconfig.get_paths()["stdlib"]
    files = sorted(glob.glob(os.path.join(root, "*.py")))
    total = 0
    for f in files:
        try:
            with open(f, encoding="utf-8", errors="replace") as fh:
                t = fh.read()
        except OSError:
            continue
        total += len(t)
        yield t
        if total >= max_bytes:
            break


def train_tokenizer(vocab_size, corpus_bytes):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(corpus_bytes), trainer)
    return tok


def make_weights(a, n_vocab, special_ids):
    rng = np.random.default_rng(a.seed)
    E, F, L = a.n_embd, a.n_ff, a.n_layer
    hd = E // a.n_head
    Ekv = hd * a.n_head_kv
    std = 0.02
    W = {}
    emb = rng.normal(0, std, (n_vocab, E)).astype(np.float32)
    emb[:, 0] = 1.0  # a constant channel that stays positive after RMSNorm
    W["model.embed_tokens.weight"] = emb
    for i in range(L):
        p = f"model.layers.{i}."
        W[p + "input_layernorm.weight"] = np.ones(E, np.float32)
        W[p + "post_attention_layernorm.weight"] = np.ones(E, np.float32)
        W[p + "self_attn.q_proj.weight"] = rng.normal(0, std, (E, E)).astype(np.float32)
        W[p + "self_attn.k_proj.weight"] = rng.normal(0, std, (Ekv, E)).astype(np.float32)
        W[p + "self_attn.v_proj.weight"] = rng.normal(0, std, (Ekv, E)).astype(np.float32)
        W[p + "self_attn.o_proj.weight"] = rng.normal(0, std, (E, E)).astype(np.float32)
        W[p + "mlp.gate_proj.weight"] = rng.normal(0, std, (F, E)).astype(np.float32)
        W[p + "mlp.up_proj.weight"] = rng.normal(0, std, (F, E)).astype(np.float32)
        W[p + "mlp.down_proj.weight"] = rng.normal(0, std, (E, F)).astype(np.float32)
    W["model.norm.weight"] = np.ones(E, np.float32)
    out = rng.normal(0, 0.3, (n_vocab, E)).astype(np.float32)
    out[:, 0] = 0.0
    for t in special_ids:           # logit ~ -5 * sqrt(E): never sampled
        out[t, :] = 0.0
        out[t, 0] = -5.0
    W["lm_head.weight"] = out
    return W


def permute(w, n_head, n_head_kv):  # HF -> GGUF rope layout, as llama.cpp's converter does
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
             .swapaxes(1, 2).reshape(w.shape))


def write_gguf(a, path, tok, W):
    import gguf
    vocab = tok.get_vocab()
    n_vocab = len(vocab)
    tokens = [None] * n_vocab
    for t, i in vocab.items():
        tokens[i] = t
    model = json.loads(tok.to_str())["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    types = [gguf.TokenType.CONTROL if t in SPECIALS else gguf.TokenType.NORMAL for t in tokens]
    eot = vocab["<|endoftext|>"]
    w = gguf.GGUFWriter(path, "llama")
    w.add_name(a.name)
    w.add_context_length(a.n_ctx)
    w.add_embedding_length(a.n_embd)
    w.add_block_count(a.n_layer)
    w.add_feed_forward_length(a.n_ff)
    w.add_head_count(a.n_head)
    w.add_head_count_kv(a.n_head_kv)
    w.add_rope_dimension_count(a.n_embd // a.n_head)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    ftype = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16}[a.dtype]
    w.add_file_type(ftype)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(eot)
    w.add_eos_token_id(eot)
    w.add_eot_token_id(vocab["<|im_end|>"])
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML)
    wd = np.float16 if a.dtype == "f16" else np.float32

    def add(name, arr, mat=True):
        w.add_tensor(name, arr.astype(wd) if mat else arr.astype(np.float32))

    add("token_embd.weight", W["model.embed_tokens.weight"])
    for i in range(a.n_layer):
        p = f"model.layers.{i}."
        b = f"blk.{i}."
        add(b + "attn_norm.weight", W[p + "input_layernorm.weight"], False)
        add(b + "attn_q.weight", permute(W[p + "self_attn.q_proj.weight"], a.n_head, a.n_head))
        add(b + "attn_k.weight", permute(W[p + "self_attn.k_proj.weight"], a.n_head, a.n_head_kv))
        add(b + "attn_v.weight", W[p + "self_attn.v_proj.weight"])
        add(b + "attn_output.weight", W[p + "self_attn.o_proj.weight"])
        add(b + "ffn_norm.weight", W[p + "post_attention_layernorm.weight"], False)
        add(b + "ffn_gate.weight", W[p + "mlp.gate_proj.weight"])
        add(b + "ffn_up.weight", W[p + "mlp.up_proj.weight"])
        add(b + "ffn_down.weight", W[p + "mlp.down_proj.weight"])
    add("output_norm.weight", W["model.norm.weight"], False)
    add("output.weight", W["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_hf(a, out, tok, W):
    from safetensors.numpy import save_file
    os.makedirs(out, exist_ok=True)
    vocab = tok.get_vocab()
    eos = vocab["<|endoftext|>"]
    hf_dtype = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.hf_dtype]
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": a.n_embd, "intermediate_size": a.n_ff,
        "num_hidden_layers": a.n_layer, "num_attention_heads": a.n_head,
        "num_key_value_heads": a.n_head_kv, "head_dim": a.n_embd // a.n_head,
        "vocab_size": len(vocab), "max_position_embeddings": a.n_ctx,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
        "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
        "bos_token_id": eos, "eos_token_id": eos, "torch_dtype": hf_dtype,
        "initializer_range": 0.02, "use_cache": True,
    }
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    json.dump({"bos_token_id": eos, "eos_token_id": eos},
              open(os.path.join(out, "generation_config.json"), "w"), indent=2)
    # bf16 is not a numpy dtype: store f32/f16 and let the server cast (--dtype)
    npd = np.float16 if a.hf_dtype == "f16" else np.float32
    save_file({k: np.ascontiguousarray(v.astype(npd)) for k, v in W.items()},
              os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    tok.save(os.path.join(out, "tokenizer.json"))
    tcfg = {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": a.n_ctx,
        "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
        "add_bos_token": False, "add_eos_token": False, "clean_up_tokenization_spaces": False,
        "chat_template": CHATML,
    }
    json.dump(tcfg, open(os.path.join(out, "tokenizer_config.json"), "w"), indent=2)
    json.dump({"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
               "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"},
              open(os.path.join(out, "special_tokens_map.json"), "w"), indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", help="write a GGUF file here")
    ap.add_argument("--hf", help="write a Hugging Face model folder here")
    ap.add_argument("--tokenizer", help="write the tokenizer.json (the model's real tokenizer) here")
    ap.add_argument("--name", default="tiny-random-llama")
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--corpus-bytes", type=int, default=4_000_000)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--n-ff", type=int, default=512)
    ap.add_argument("--n-head", type=int, default=2, help="head_dim = n_embd/n_head; vLLM CPU wants 32,64,80,96,112,128,...")
    ap.add_argument("--n-head-kv", type=int, default=2)
    ap.add_argument("--n-ctx", type=int, default=16384, help="n_ctx_train written into the model")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f16", help="GGUF matrix dtype")
    ap.add_argument("--hf-dtype", choices=["f32", "f16"], default="f32")
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    if not a.gguf and not a.hf and not a.tokenizer:
        ap.error("give --gguf, --hf and/or --tokenizer")
    tok = train_tokenizer(a.vocab, a.corpus_bytes)
    vocab = tok.get_vocab()
    W = make_weights(a, len(vocab), [vocab[s] for s in SPECIALS])
    if a.gguf:
        os.makedirs(os.path.dirname(os.path.abspath(a.gguf)), exist_ok=True)
        write_gguf(a, a.gguf, tok, W)
        print(f"wrote {a.gguf} ({os.path.getsize(a.gguf)} bytes, vocab {len(vocab)})")
    if a.tokenizer:
        os.makedirs(os.path.dirname(os.path.abspath(a.tokenizer)), exist_ok=True)
        tok.save(a.tokenizer)
        print(f"wrote {a.tokenizer}")
    if a.hf:
        write_hf(a, a.hf, tok, W)
        print(f"wrote {a.hf}/ (vocab {len(vocab)})")


if __name__ == "__main__":
    main()
