#!/usr/bin/env python3
"""Decode speed when another process keeps one core busy: lineage and llama.cpp's
llama-bench on the same GGUF, at 1 and 2 threads, alone and beside a busy loop pinned to
one core, in one run. Thread pools that wait for every thread at each barrier collapse
when one of their threads shares its core; the question is whether 2-thread decode
falls below the 1-thread figure.

usage: bench/shared_cores.py [--model GGUF] [--llama-bench PATH] [--gen-tokens 128]
                             [--repeats 3] [--busy-core 1]
llama-bench comes from bench/build_llama_server.sh (llama-cpp-python's sdist); without
it only lineage runs. Needs `cargo build --release` and `taskset` (util-linux).
A benchmark, not a test: it prints a table and asserts nothing.
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("LINEAGE_CACHE", Path.home() / ".cache/lineage"))
DEFAULT = CACHE / "SmolLM2-135M-Instruct.Q4_1.gguf"


def lineage(model, threads, gen):
    cmd = [str(ROOT / "target/release/lineage"), "bench", "--model", str(model),
           "--prompt-tokens", "16", "--gen-tokens", str(gen), "--json"]
    env = dict(os.environ, LINEAGE_THREADS=str(threads))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])["decode_tok_s"]


def llama_bench(exe, model, threads, gen):
    env = dict(os.environ, LD_LIBRARY_PATH=str(Path(exe).parent))
    cmd = [str(exe), "-m", str(model), "-p", "0", "-n", str(gen), "-t", str(threads),
           "-r", "1", "-o", "json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out)[0]["avg_ts"]


def busy_loop(core):
    """A process spinning on `core` until killed."""
    return subprocess.Popen(["taskset", "-c", str(core), sys.executable, "-c", "while True: pass"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", type=Path, default=DEFAULT)
    p.add_argument("--llama-bench", type=Path, default=Path("/tmp/llsrv/out/build/bin/llama-bench"))
    p.add_argument("--gen-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--busy-core", type=int, default=1)
    a = p.parse_args()
    peers = {"lineage": lambda t: lineage(a.model, t, a.gen_tokens)}
    if a.llama_bench.is_file():
        peers["llama.cpp"] = lambda t: llama_bench(a.llama_bench, a.model, t, a.gen_tokens)
    else:
        print(f"note: {a.llama_bench} not found: lineage only", file=sys.stderr)
    results = {}
    for busy in (False, True):
        loop = busy_loop(a.busy_core) if busy else None
        time.sleep(0.5 if busy else 0)
        try:
            for r in range(a.repeats):  # interleaved, so drift hits every cell alike
                for name, run in peers.items():
                    for t in (1, 2):
                        results.setdefault((name, busy, t), []).append(run(t))
        finally:
            if loop:
                loop.kill()
                loop.wait()
    print(f"# decode tok/s, {a.model.name}, {a.gen_tokens} tokens, median of {a.repeats}"
          f" ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} logical cores)")
    print("| peer | 1 thread | 2 threads | 1 thread, core busy | 2 threads, core busy | 2t busy / 1t busy |")
    print("|---|---|---|---|---|---|")
    for name in peers:
        m = {k: statistics.median(v) for k, v in results.items() if k[0] == name}
        ratio = m[(name, True, 2)] / m[(name, True, 1)]
        print(f"| {name} | {m[(name, False, 1)]:.1f} | {m[(name, False, 2)]:.1f} | "
              f"{m[(name, True, 1)]:.1f} | {m[(name, True, 2)]:.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
