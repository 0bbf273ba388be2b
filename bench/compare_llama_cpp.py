#!/usr/bin/env python3
"""Runs the same work through lineage and llama.cpp (PyPI llama-cpp-python) in one run
and prints the ratios: prefill of a P-token prompt, decode of N tokens, both greedy, on
the same GGUF file with the same thread count.

usage: bench/compare_llama_cpp.py [--model PATH] [--threads 2] [--prompt-tokens 128]
                                  [--gen-tokens 128] [--repeats 3]
Needs: `cargo build --release` and `pip install llama-cpp-python` (see
../shared/anchors/README.md for the AMX build flags on this CPU).
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = Path(os.environ.get("LINEAGE_CACHE", Path.home() / ".cache/lineage")) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def lineage(args):
    exe = ROOT / "target/release/lineage"
    cmd = [str(exe), "bench", "--model", str(args.model), "--prompt-tokens", str(args.prompt_tokens),
           "--gen-tokens", str(args.gen_tokens), "--json"]
    env = dict(os.environ, LINEAGE_THREADS=str(args.threads))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def llama_cpp(args):
    from llama_cpp import Llama
    llm = Llama(model_path=str(args.model), n_threads=args.threads, n_threads_batch=args.threads,
                n_ctx=args.prompt_tokens + args.gen_tokens + 8, n_batch=args.prompt_tokens,
                verbose=False, use_extra_bufts=False)
    vocab = llm.n_vocab()
    ids = [(i * 7919 + 13) % vocab for i in range(args.prompt_tokens)]
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids)
    prefill = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(args.gen_tokens):
        tok = llm.sample(temp=0.0)
        llm.eval([tok])
    decode = time.perf_counter() - t1
    return {"prefill_tok_s": args.prompt_tokens / prefill, "decode_tok_s": args.gen_tokens / decode}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", type=Path, default=DEFAULT)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--gen-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    ours, theirs = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine noise
        ours.append(lineage(args))
        theirs.append(llama_cpp(args))
    med = lambda rows, k: statistics.median(r[k] for r in rows)
    print(f"model {args.model.name}, {args.threads} threads, prompt {args.prompt_tokens}, decode {args.gen_tokens}, median of {args.repeats}")
    print(f"{'':10s} {'lineage':>10s} {'llama.cpp':>10s} {'ratio':>7s}")
    for k in ["prefill_tok_s", "decode_tok_s"]:
        a, b = med(ours, k), med(theirs, k)
        print(f"{k:10s} {a:10.1f} {b:10.1f} {a / b:7.2f}x")
    print(f"lineage peak RSS {ours[-1].get('peak_rss_mib')} MiB, load {ours[-1]['load_s']:.3f} s")


if __name__ == "__main__":
    sys.exit(main())
