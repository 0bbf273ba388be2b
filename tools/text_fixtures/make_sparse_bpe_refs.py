"""llama.cpp references for large byte-level BPE vocabularies (llama-bpe = Llama 3, qwen2),
committed as a *sparse* vocabulary: only the tokens and merges that can take part in
tokenizing the test prompts are kept, with their original ids and merge order.

Why that is exact: BPE on a pre-tokenized word only ever merges adjacent symbols that are
substrings of the word, so a merge or token whose text is not a substring of the
byte-level-encoded prompt can never fire; ranks only matter relative to each other.
All 256 byte tokens and all control/user-defined tokens are kept.

Writes crates/lineage/tests/fixtures/text/{name}_sparse_vocab.json and {name}_token_refs.json.
Usage: make_sparse_bpe_refs.py LLAMA_CPP_SRC_DIR   (needs llama-cpp-python 0.3.36, gguf)
"""
import json, os, sys, tempfile

sys.path.insert(0, os.path.dirname(__file__))
from extract_gguf_vocab import main as extract
from make_token_refs import PROMPTS, OUT, refs, vocab_test_inputs, write


def byte_table():
    """GPT-2's byte -> printable character table."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b); cs.append(256 + n); n += 1
    return dict(zip(bs, map(chr, cs)))


def byte_level(text):
    table = byte_table()
    return "".join(table[b] for b in text.encode("utf-8"))


def sparse(meta, prompts):
    hay = "\n".join(byte_level(p) for p in prompts)
    bytes_chars = set(byte_table().values())
    tokens, types = meta["ggml.tokens"], meta["ggml.token_type"]
    keep = {i: t for i, t in enumerate(tokens) if types[i] != 1 or t in hay or t in bytes_chars}
    merges = [m for m in meta["ggml.merges"] if m.replace(" ", "", 1) in hay]
    out = {k: v for k, v in meta.items() if k not in ("ggml.tokens", "ggml.token_type", "ggml.merges", "chat_template")}
    out.update({"ggml.n_tokens": len(tokens), "ggml.sparse_tokens": {str(i): t for i, t in keep.items()},
                "ggml.sparse_token_type": {str(i): types[i] for i in keep if types[i] != 1}, "ggml.merges": merges})
    return out


def main(llama_src):
    for name in ("llama-bpe", "qwen2"):
        gguf = os.path.join(llama_src, "models", f"ggml-vocab-{name}.gguf")
        tmp = os.path.join(tempfile.mkdtemp(), "vocab.json")
        extract(gguf, tmp)
        prompts = PROMPTS + vocab_test_inputs(llama_src, name)
        stem = name.replace("-", "_")
        write(f"{stem}_sparse_vocab.json", sparse(json.load(open(tmp, encoding="utf-8")), prompts))
        write(f"{stem}_token_refs.json", {"source": "llama.cpp via llama-cpp-python 0.3.36, tokenize(add_bos=False, special=True)",
                                          "cases": refs(gguf, prompts)})


if __name__ == "__main__":
    main(sys.argv[1])
