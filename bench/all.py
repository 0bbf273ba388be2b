#!/usr/bin/env python3
"""Issue 12's whole table in one run: lineage against llama.cpp's llama-bench on the same
GGUF files, same thread counts, interleaved repeats (median), printed as ratios.

Per model and thread count (1 and 2):
  - prefill of a P-token prompt and decode of N tokens (llama-bench `-p P -n 0`, `-p 0 -n N`);
  - long context: prefill of L tokens, and decode of N tokens after L (llama-bench `-d L`);
  - peak RSS of the long-context runs (each process's own, from wait4);
then, on 2 threads: lineage's roofline (% of the bandwidth and FMA limits), prompt-lookup
speculative decoding (acceptance, speed-up, identical output), and bench/shared_cores.py
(decode beside a busy core).

Both sides use an f16 KV cache (llama.cpp's default; lineage `--kv-type f16`).
usage: bench/all.py [GGUF ...] [--prompt 128] [--gen 128] [--long 1950] [--repeats 3]
                    [--llama-bench PATH] [--quick] [--exact]
Without GGUF arguments: SmolLM2-135M-Instruct Q4_1 and Gemma-3-270M Q4_K_M from the
lineage cache (scripts/fetch-models.sh). llama-bench comes from bench/build_llama_server.sh
(llama-cpp-python's sdist from PyPI), built on first use. A benchmark: it asserts nothing.
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("LINEAGE_CACHE", Path.home() / ".cache/lineage"))
DEFAULTS = [CACHE / "SmolLM2-135M-Instruct.Q4_1.gguf", CACHE / "gemma-3-270m-q4_k_m.gguf"]
LINEAGE = ROOT / "target/release/lineage"


def run(cmd, env=None):
    """stdout and peak RSS (MiB) of one process."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {' '.join(map(str, cmd))}")
    return out, usage.ru_maxrss / 1024


def lineage(model, threads, prompt, gen, extra=(), act=None):
    """One `lineage bench` (its default: the 8-bit-activation path); `act="f32"` runs the
    exact path."""
    cmd = [str(LINEAGE), "bench", "--model", str(model), "--prompt-tokens", str(prompt),
           "--gen-tokens", str(gen), "--kv-type", "f16", "--json", *extra]
    env = dict(os.environ, LINEAGE_THREADS=str(threads))
    if act:
        env["LINEAGE_QUANT_ACT"] = act
    out, rss = run(cmd, env)
    r = json.loads(out.strip().splitlines()[-1])
    r["rss_mib"] = rss
    return r


def llama_bench(exe, model, threads, args):
    env = dict(os.environ, LD_LIBRARY_PATH=str(Path(exe).parent))
    try:
        out, rss = run([str(exe), "-m", str(model), "-t", str(threads), "-r", "1", "-o", "json", *args], env)
    except RuntimeError as e:
        if "(-4)" in str(e):  # SIGILL
            sys.exit(f"{e}\nllama-bench died of an illegal instruction: on VMs that list AMX but "
                     "trap it, rebuild with LLAMA_NO_AMX=1 bench/build_llama_server.sh and pass "
                     "--llama-bench target/llama-server/build-noamx/bin/llama-bench")
        raise
    return json.loads(out)[0]["avg_ts"], rss


def measure(a, exe, model, threads):
    """{metric: [lineage values], [llama.cpp values]} over interleaved repeats."""
    cells = {}

    def add(key, ours, theirs, exact):
        o, t, q = cells.setdefault(key, ([], [], []))
        o.append(ours)
        t.append(theirs)
        q.append(exact)

    def both(prompt):
        """lineage's default (8-bit-activation) path and, with --exact, its exact one."""
        return (lineage(model, threads, prompt, a.gen),
                lineage(model, threads, prompt, a.gen, act="f32") if a.exact else None)

    def pick(r, key):
        return r[key] if r else None

    for _ in range(a.repeats):
        short, short8 = both(a.prompt)
        lp, _ = llama_bench(exe, model, threads, ["-p", str(a.prompt), "-n", "0"])
        ld, _ = llama_bench(exe, model, threads, ["-p", "0", "-n", str(a.gen)])
        add(f"prefill {a.prompt}", short["prefill_tok_s"], lp, pick(short8, "prefill_tok_s"))
        add(f"decode {a.gen}", short["decode_tok_s"], ld, pick(short8, "decode_tok_s"))
        if a.long:
            long, long8 = both(a.long)
            llp, rss_p = llama_bench(exe, model, threads, ["-p", str(a.long), "-n", "0"])
            lld, rss_d = llama_bench(exe, model, threads, ["-p", "0", "-n", str(a.gen), "-d", str(a.long)])
            add(f"prefill {a.long}", long["prefill_tok_s"], llp, pick(long8, "prefill_tok_s"))
            add(f"decode {a.gen} at {a.long}", long["decode_tok_s"], lld, pick(long8, "decode_tok_s"))
            add(f"peak RSS MiB at {a.long}", long["rss_mib"], max(rss_p, rss_d), pick(long8, "rss_mib"))
    return cells


def lineage_only(model, a):
    r = lineage(model, 2, a.prompt, a.gen, ["--roofline", "--speculative", "lookup"])
    roof, spec = r["roofline"], r["speculative"]
    print(f"- roofline (2 threads): decode {roof['decode_of_limit']:.0%} of "
          f"{roof['decode_limit_tok_s']:.0f} tok/s ({roof['read_bandwidth_gb_s']:.1f} GB/s read), "
          f"prefill {roof['prefill_of_limit']:.0%} of {roof['prefill_limit_tok_s']:.0f} tok/s "
          f"({roof['fma_peak_gflop_s']:.0f} GFLOP/s FMA peak)")
    print(f"- speculative (prompt lookup, k={spec['draft_k']}): acceptance {spec['acceptance']:.0%}, "
          f"speed-up {spec['speedup']:.2f}x, identical to greedy: {spec['identical']}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("models", nargs="*", type=Path)
    p.add_argument("--prompt", type=int, default=128)
    p.add_argument("--gen", type=int, default=128)
    p.add_argument("--long", type=int, default=1950, help="0 skips the long-context rows")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--llama-bench", type=Path, default=ROOT / "target/llama-server/build/bin/llama-bench")
    p.add_argument("--quick", action="store_true", help="1 repeat, no shared-cores run")
    p.add_argument("--exact", action="store_true",
                   help="also lineage's exact path (f32 activations, LINEAGE_QUANT_ACT=f32), same run")
    a = p.parse_args()
    if a.quick:
        a.repeats = 1
    models = a.models or [m for m in DEFAULTS if m.is_file()]
    if not models:
        sys.exit("no GGUF given and none in the lineage cache: run scripts/fetch-models.sh")
    if not a.llama_bench.is_file():
        out = subprocess.run([str(ROOT / "bench/build_llama_server.sh"), str(a.llama_bench.parents[2])],
                             check=True, capture_output=True, text=True).stdout
        a.llama_bench = Path(out.strip().splitlines()[-1]).with_name("llama-bench")
    if not LINEAGE.is_file():
        subprocess.run(["cargo", "build", "--release", "-p", "lineage-cli"], cwd=ROOT, check=True)
    print(f"# lineage vs llama.cpp (llama-bench), {time.strftime('%Y-%m-%d')}, "
          f"{os.cpu_count()} logical cores, median of {a.repeats}, f16 KV cache on both; "
          "ratio > 1: lineage better (faster, or less memory)")
    for model in models:
        print(f"\n## {model.name}\n")
        extra = " lineage exact | exact ratio |" if a.exact else ""
        print("| measure | threads | lineage | llama.cpp | ratio |" + extra)
        print("|---|---|---|---|---|" + ("---|---|" if a.exact else ""))
        for threads in (1, 2):
            for k, (ours, theirs, exact) in measure(a, a.llama_bench, model, threads).items():
                t = statistics.median(theirs)

                def cell(values):
                    o = statistics.median(values)
                    # RSS: lower is better, so its ratio is theirs over ours like the speeds'.
                    ratio = t / o if k.startswith("peak RSS") else o / t
                    return f"{o:.1f} | {t:.1f} | {ratio:.2f}x" if values is ours else f"{o:.1f} | {ratio:.2f}x"

                row = f"| {k} | {threads} | {cell(ours)} |"
                print(row + (f" {cell(exact)} |" if a.exact else ""))
        print()
        lineage_only(model, a)
        if not a.quick:
            out = subprocess.run([sys.executable, str(ROOT / "bench/shared_cores.py"), "--model", str(model),
                                  "--llama-bench", str(a.llama_bench), "--repeats", str(a.repeats)],
                                 check=True, capture_output=True, text=True).stdout
            print("\n" + out.strip())


if __name__ == "__main__":
    main()
