#!/usr/bin/env python3
"""Load benchmark: `lineage serve` against llama.cpp's own `llama-server` (built from the
llama-cpp-python sdist by bench/build_llama_server.sh), same GGUF file, same --parallel,
same threads, in one run. At 1, 4 and 16 concurrent streams it reports aggregate decode
tok/s, p50/p99 time to first token and p50/p99 inter-token latency, then the ratios.

Each stream is an OpenAI-style streamed /v1/completions request with its own prompt,
greedy, max_tokens tokens; tokens are counted from the streamed chunks (one per token on
both servers) and checked against `usage` where the server reports it.

usage: bench/serve_load.py [--model GGUF] [--llama-server PATH] [--threads 2]
                           [--max-tokens 64] [--streams 1,4,16] [--rounds 2] [--json OUT]
Needs `cargo build --release` (target/release/lineage).
"""
import argparse, http.client, json, os, statistics, subprocess, sys, threading, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("LINEAGE_CACHE", Path.home() / ".cache/lineage"))
DEFAULT_MODEL = CACHE / "SmolLM2-135M-Instruct.Q4_1.gguf"


def wait_ready(port, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            sys.exit(f"server on port {port} exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    sys.exit(f"server on port {port} not ready after {timeout} s")


def stream_one(port, prompt, max_tokens, out):
    """One streamed completion: (send time, chunk arrival times, usage tokens or None)."""
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
                       "stream": True, "stream_options": {"include_usage": True}})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"status {r.status}: {r.read()[:200]!r}")
    times, usage = [], None
    for raw in r:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        d = json.loads(line[6:])
        if d.get("usage"):
            usage = d["usage"].get("completion_tokens")
        ch = d.get("choices") or []
        if ch and ch[0].get("text"):
            times.append(time.perf_counter())
    out.append((t0, times, usage))


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def run_level(port, n, args):
    """`rounds` rounds of n simultaneous streams; the metrics over all of them."""
    ttft, itl, tokens, wall = [], [], 0, 0.0
    for r in range(args.rounds):
        res = []
        prompts = [f"Story {r * 100 + i}: Once upon a time, in a small village by the sea,"
                   for i in range(n)]
        ths = [threading.Thread(target=stream_one, args=(port, p, args.max_tokens, res))
               for p in prompts]
        t0 = time.perf_counter()
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        wall += time.perf_counter() - t0
        if len(res) != n:
            sys.exit(f"{n} streams: only {len(res)} finished")
        for sent, times, usage in res:
            if usage is not None and abs(usage - len(times)) > 2:
                print(f"  note: {len(times)} chunks but usage says {usage} tokens", file=sys.stderr)
            tokens += len(times)
            if times:
                ttft.append(times[0] - sent)
                itl += [b - a for a, b in zip(times, times[1:])]
    return {"streams": n, "tokens": tokens, "agg_tok_s": tokens / wall,
            "ttft_p50_ms": 1e3 * percentile(ttft, 0.5), "ttft_p99_ms": 1e3 * percentile(ttft, 0.99),
            "itl_p50_ms": 1e3 * percentile(itl, 0.5), "itl_p99_ms": 1e3 * percentile(itl, 0.99)}


def bench_server(name, cmd, port, env, args, levels):
    print(f"== {name}: {' '.join(map(str, cmd))}", file=sys.stderr)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc)
        stream_one(port, "Warm up.", 4, [])
        rows = []
        for n in levels:
            row = run_level(port, n, args)
            print(f"  {name:12s} {n:2d} streams: {row['agg_tok_s']:7.1f} tok/s  TTFT p50/p99 "
                  f"{row['ttft_p50_ms']:6.0f}/{row['ttft_p99_ms']:6.0f} ms  ITL p50/p99 "
                  f"{row['itl_p50_ms']:6.1f}/{row['itl_p99_ms']:6.1f} ms", file=sys.stderr)
            rows.append(row)
        return rows
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--llama-server", type=Path, default=ROOT / "target/llama-server/build/bin/llama-server")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--streams", default="1,4,16")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--ctx-per-stream", type=int, default=512)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    levels = [int(x) for x in args.streams.split(",")]
    parallel = max(levels)
    if not args.llama_server.exists():
        sys.exit(f"{args.llama_server}: not found; run bench/build_llama_server.sh")
    env = dict(os.environ, LINEAGE_THREADS=str(args.threads))
    ours = bench_server("lineage", [ROOT / "target/release/lineage", "serve", "--model", args.model,
                                    "--port", "18081", "--parallel", str(parallel),
                                    "--ctx-size", str(args.ctx_per_stream)], 18081, env, args, levels)
    peer = bench_server("llama-server", [args.llama_server, "-m", args.model, "--port", "18082",
                                         "--parallel", str(parallel), "-t", str(args.threads),
                                         "-tb", str(args.threads),
                                         "-c", str(args.ctx_per_stream * parallel)],
                        18082, env, args, levels)
    print("\nstreams | agg tok/s lineage / llama-server = ratio | p99 ITL ms lineage / llama-server"
          " | p99 TTFT ms lineage / llama-server")
    out = []
    for a, b in zip(ours, peer):
        ratio = a["agg_tok_s"] / b["agg_tok_s"]
        print(f"{a['streams']:7d} | {a['agg_tok_s']:7.1f} / {b['agg_tok_s']:7.1f} = {ratio:4.2f}x"
              f" | {a['itl_p99_ms']:6.1f} / {b['itl_p99_ms']:6.1f} | {a['ttft_p99_ms']:6.0f} / {b['ttft_p99_ms']:6.0f}")
        out.append({"lineage": a, "llama_server": b, "throughput_ratio": ratio})
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
