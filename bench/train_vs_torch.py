#!/usr/bin/env python3
"""Trains the same model on the same data through lineage and through PyTorch (HF
transformers, eager and sdpa attention) in one run, and prints tokens/s, peak RSS and
the ratios lineage / PyTorch. A benchmark, not a test: it asserts only that both sides
build the same model (equal parameter counts).

Both sides: f32, batch 8 x seq_len 128, AdamW (lr 3e-3, betas 0.9/0.95, weight decay 0.1
on matrices only), global grad-norm clip 1.0, constant lr, the same thread count. Each
side runs in its own process; peak RSS is that process's ru_maxrss (os.wait4), the same
call for both. Lineage's tok/s comes from RUN/metrics.jsonl past the warm-up steps;
PyTorch's from perf_counter around the same number of steps. The PyTorch model is built
from the RUN/model_config.json lineage writes (its canonical ModelConfig).

usage: bench/train_vs_torch.py [--steps 10] [--warmup 3] [--repeats 1] [--threads 2]
                               [--models gpt2,llama] [--lineage PATH]
                               [--python PATH | --venv DIR [--torch-index URL]] [--json OUT]
Runs here as `/tmp/venv-ref/bin/python bench/train_vs_torch.py`; on a fresh machine
`python3 bench/train_vs_torch.py --venv .venv-bench` creates the venv and pip-installs
torch, transformers, numpy and safetensors from PyPI (`--torch-index
https://download.pytorch.org/whl/cpu` for the small CPU-only torch wheel).
Needs: `cargo build --release` (falls back to target/debug, flagged in the output).
The default run (2 models x 3 frameworks, 13 steps each) takes about 3-5 minutes on 2 cores.
"""
import argparse, datetime, json, os, platform, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("LINEAGE_CACHE", Path.home() / ".cache/lineage"))
DATA = CACHE / "data/python-docs-bpe4096"
# ~6M parameters at vocab 4096. The llama d_ff is 2/3 * 4 * d_model rounded to 64, so its
# three SwiGLU matrices cost what GPT-2's two 4*d_model matrices do.
SHAPE = ["n_layers=6", "d_model=256", "head_dim=64"]
MODELS = {
    "gpt2": ("gpt2-tiny", SHAPE + ["n_heads=4", "n_kv_heads=4", "d_ff=1024"]),
    "llama": ("llama-tiny", SHAPE + ["n_heads=4", "n_kv_heads=2", "d_ff=704"]),
}
FRAMEWORKS = ["lineage", "torch-eager", "torch-sdpa"]
PIP_PACKAGES = ["torch", "transformers", "numpy", "safetensors"]


def run_measured(cmd, env):
    """Runs `cmd`; returns its output and {wall_s, rss_mib, cpu_s} of that process alone
    (os.wait4 reports the one child; RUSAGE_CHILDREN would give the maximum over all)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        p = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read()
    if p.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))}\nexited {p.returncode}:\n{text[-4000:]}")
    measured = {"wall_s": wall, "rss_mib": usage.ru_maxrss / 1024.0,  # Linux: KiB
                "cpu_s": usage.ru_utime + usage.ru_stime}
    return text, measured


def thread_env(threads):
    n = str(threads)
    return dict(os.environ, RAYON_NUM_THREADS=n, LINEAGE_THREADS=n, OMP_NUM_THREADS=n,
                MKL_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n)


def lineage_exe(arg):
    if arg:
        return Path(arg), "given"
    for build in ["release", "debug"]:
        exe = ROOT / "target" / build / "lineage"
        if exe.is_file():
            return exe, build
    sys.exit("no lineage binary: run `cargo build --release` (or pass --lineage PATH)")


def run_lineage(args, name, run):
    recipe, sets = MODELS[name]
    cmd = [str(args.exe), "train", "--model", recipe, "--data", args.data_arg,
           "--steps", str(args.warmup + args.steps), "--batch", str(args.batch),
           "--seq-len", str(args.seq_len), "--lr", "3e-3", "--schedule", "constant",
           "--warmup", "0", "--weight-decay", "0.1", "--grad-clip", "1.0", "--dtype", "f32",
           "--eval-every", "0", "--eval-windows", "1", "--quiet", "--out", str(run)]
    for s in sets:
        cmd += ["--set", s]
    _, measured = run_measured(cmd, thread_env(args.threads))
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if l.strip()]
    a, b = rows[args.warmup - 1], rows[-1]  # the rate over the steps after the warm-up
    summary = json.loads((run / "summary.json").read_text())
    return {"tok_s": (b["tokens"] - a["tokens"]) / (b["elapsed_s"] - a["elapsed_s"]),
            "params": summary["params"], "final_loss": b["train_loss"], **measured}


def run_torch(args, cfg_path, attn):
    cmd = [str(args.python), str(Path(__file__).resolve()), "--worker", str(cfg_path),
           "--attn", attn, "--data", str(args.data), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch", str(args.batch),
           "--seq-len", str(args.seq_len), "--threads", str(args.threads)]
    out, measured = run_measured(cmd, thread_env(args.threads))
    return dict(json.loads(out.strip().splitlines()[-1]), **measured)


# ---------------------------------------------------------------- PyTorch worker side

def hf_config(c, attn):
    """The HF config computing what lineage's ModelConfig `c` computes; refuses the rest."""
    a, f = c["attention"], c["ffn"]
    unsupported = {"attention.kind": a["kind"] != "Standard", "attention.softcap": a["softcap"],
                   "attention.qk_norm": a["qk_norm"], "attention.sinks": a["sinks"],
                   "attention.scale": a["scale"], "ffn.moe": f["moe"],
                   "final_logit_softcap": c["final_logit_softcap"],
                   "embedding.scale": c["embedding"]["scale"], "embedding.norm": c["embedding"]["norm"],
                   "block.placement": c["block"]["placement"] != "Pre",
                   "block.residual": c["block"]["residual"] != "Sequential",
                   "layers[].window/rope/moe": any(any(l.values()) for l in c["layers"])}
    bad = [k for k, v in unsupported.items() if v]
    if bad:
        sys.exit(f"model_config.json: {', '.join(bad)} not mapped to HF in this benchmark")
    common = dict(vocab_size=c["vocab_size"], tie_word_embeddings=c["embedding"]["tied_lm_head"],
                  attn_implementation=attn, use_cache=False, bos_token_id=None,
                  eos_token_id=None, pad_token_id=None)
    if c["final_norm"] != c["block"]["norm"]:
        sys.exit("model_config.json: final_norm differs from the block norm; HF shares one")
    if c["family"] == "gpt2":
        return gpt2_config(c, common)
    if c["family"] == "llama":
        return llama_config(c, common)
    sys.exit(f"model_config.json: family `{c['family']}` not mapped (gpt2, llama)")


def gpt2_config(c, common):
    from transformers import GPT2Config
    a, f, norm = c["attention"], c["ffn"], c["block"]["norm"]
    ok = (c["position"] == "Learned" and f["kind"] == {"Mlp": "GeluTanh"} and f["bias"]
          and all(a["bias"].values()) and a["n_kv_heads"] == a["n_heads"]
          and a["n_heads"] * a["head_dim"] == c["d_model"] and "LayerNorm" in norm["kind"])
    if not ok:
        sys.exit("model_config.json: not a GPT-2 block (learned positions, LayerNorm, "
                 "gelu_tanh MLP with biases, MHA, n_heads * head_dim = d_model)")
    return GPT2Config(n_embd=c["d_model"], n_layer=len(c["layers"]), n_head=a["n_heads"],
                      n_inner=f["d_ff"], n_positions=c["context_len"],
                      activation_function="gelu_new", layer_norm_epsilon=norm["eps"],
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **common)


def llama_config(c, common):
    from transformers import LlamaConfig
    a, f, norm = c["attention"], c["ffn"], c["block"]["norm"]
    rope = c["position"]["Rope"] if isinstance(c["position"], dict) else None
    ok = (rope and rope["pairing"] == "RotateHalf" and rope["scaling"] == "None"
          and rope["rotary_dim"] == a["head_dim"] and f["kind"] == {"Glu": "Silu"}
          and "RmsNorm" in norm["kind"] and not norm["kind"]["RmsNorm"]["offset_one"]
          and len(set(a["bias"].values())) == 1)
    if not ok:
        sys.exit("model_config.json: not a Llama block (full RotateHalf RoPE, RMSNorm, SwiGLU)")
    return LlamaConfig(hidden_size=c["d_model"], num_hidden_layers=len(c["layers"]),
                       num_attention_heads=a["n_heads"], num_key_value_heads=a["n_kv_heads"],
                       head_dim=a["head_dim"], intermediate_size=f["d_ff"],
                       max_position_embeddings=c["context_len"], rms_norm_eps=norm["eps"],
                       rope_parameters={"rope_type": "default", "rope_theta": rope["theta"]},
                       attention_bias=a["bias"]["q"], mlp_bias=f["bias"], hidden_act="silu",
                       attention_dropout=0.0, **common)


def optimizer(torch, model):
    """AdamW with lineage's decay groups: 2-D weights decay, embeddings/norms/biases don't."""
    emb = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    params = list(model.parameters())  # tied weights appear once
    decay = [p for p in params if p.dim() >= 2 and id(p) not in emb]
    rest = [p for p in params if p.dim() < 2 or id(p) in emb]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                              {"params": rest, "weight_decay": 0.0}],
                             lr=3e-3, betas=(0.9, 0.95), eps=1e-8), params


def worker(args):
    import numpy as np, torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    import_rss = vm_rss_mib()  # what `import torch, transformers` alone holds
    cfg = json.loads(Path(args.worker).read_text())
    if cfg["precision"] != "F32":
        sys.exit(f"model_config.json: precision {cfg['precision']}, this benchmark is f32")
    model = AutoModelForCausalLM.from_config(hf_config(cfg, args.attn), dtype=torch.float32)
    model.train()
    opt, params = optimizer(torch, model)
    tokens = np.memmap(Path(args.data) / "train.bin", dtype="<u2", mode="r")
    rng = np.random.default_rng(0)
    B, T = args.batch, args.seq_len

    def step():
        starts = rng.integers(0, len(tokens) - T - 1, size=B)
        w = torch.from_numpy(np.stack([tokens[s:s + T + 1] for s in starts]).astype(np.int64))
        x, y = w[:, :-1], w[:, 1:]  # [batch, seq]
        logits = model(input_ids=x).logits  # [batch, seq, vocab]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    dt = time.perf_counter() - t0
    print(json.dumps({"tok_s": args.steps * B * T / dt, "params": sum(p.numel() for p in params),
                      "final_loss": loss, "torch": torch.__version__,
                      "attn": model.config._attn_implementation, "import_rss_mib": import_rss}))


def vm_rss_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def sgemm_peak(args):
    """f32 GEMM rate torch reaches on this machine with these threads: the reference peak
    (best of 5 rounds, so a neighbour's burst does not lower it)."""
    import torch
    torch.set_num_threads(args.threads)
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(5):
            a @ b
        best = min(best, (time.perf_counter() - t0) / 5)
    print(json.dumps({"gflop_s": 2 * 1024 ** 3 / best / 1e9}))


# ---------------------------------------------------------------- report

def flops_per_token(cfg, params, seq_len):
    """PaLM appendix B / nanoGPT estimate_mfu: 6 N + 12 L H Dh T. N counts every parameter
    but the learned position table (the tied token table is counted once, as the LM head
    matmul it also is; its lookup is free)."""
    pos = cfg["context_len"] * cfg["d_model"] if cfg["position"] == "Learned" else 0
    a = cfg["attention"]
    attn = 12 * len(cfg["layers"]) * a["n_heads"] * a["head_dim"] * seq_len
    return 6 * (params - pos) + attn, params - pos


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return cpu, os.cpu_count(), load


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "-uno"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def print_report(args, results, peak, load0):
    cpu, cores, load1 = machine()
    print(f"# lineage train vs PyTorch ({datetime.date.today().isoformat()})\n")
    print(f"machine: {cpu}, {cores} logical cores, {platform.machine()}; load avg "
          f"{load0:.2f} before, {load1:.2f} after (other processes share the CPUs)")
    print(f"lineage {git_rev()} ({args.build} build: {args.exe}); torch {results[0]['torch-eager']['torch']}")
    print(f"f32, {args.threads} threads, batch {args.batch} x seq_len {args.seq_len}, "
          f"AdamW + clip 1.0, {args.steps} timed steps after {args.warmup} warm-up, "
          f"median of {args.repeats}\n")
    print("| model | params | framework | tok/s | peak RSS MiB | tok/s ratio | RSS ratio "
          "| GFLOP/s | of peak | wall s | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ours = r["lineage"]
        for fw in FRAMEWORKS:
            x = r[fw]
            gf = x["tok_s"] * r["flops_per_token"] / 1e9
            ratio = "" if fw == "lineage" else f"{ours['tok_s'] / x['tok_s']:.2f}x"
            rss = "" if fw == "lineage" else f"{ours['rss_mib'] / x['rss_mib']:.2f}x"
            print(f"| {r['model']} | {x['params']:,} | {fw} | {x['tok_s']:.0f} | {x['rss_mib']:.0f} | "
                  f"{ratio} | {rss} | {gf:.2f} | {100 * gf / peak:.1f}% | {x['wall_s']:.1f} | {x['cpu_s']:.1f} |")
    print("\nratios are lineage / PyTorch (tok/s: >1 is lineage faster; RSS: <1 is lineage smaller); "
          "wall s and CPU s are the whole process (start-up, data, final eval included).")
    print("FLOP/token = 6 N + 12 L H Dh T (PaLM app. B; N = params without the position table, "
          "tied embedding counted once as the LM head), "
          + ", ".join(f"{r['model']}: N {r['n_flop']:,}, {r['flops_per_token'] / 1e6:.1f} MFLOP"
                      for r in results) + ".")
    base = results[0]["torch-eager"]["import_rss_mib"]
    print(f"PyTorch holds {base:.0f} MiB after `import torch, transformers` alone (VmRSS), "
          "before building the model.")
    print(f"peak = torch f32 1024^3 GEMM on {args.threads} threads, best of 5: {peak:.1f} GFLOP/s (measured).")
    if args.threads > 1 and max(load0, load1) > cores:
        print(f"\nWARNING: load average above the {cores} cores: threads wait on busy cores, which "
              "hurts OpenMP (PyTorch) far more than lineage; compare with --threads 1.")
    if args.build == "debug":
        print("\nWARNING: lineage debug build (opt-level 1, deps at 3); `cargo build --release` for real numbers.")


# ---------------------------------------------------------------- driver

def has_torch(python):
    probe = "import torch, transformers, numpy, safetensors"
    return subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0


def ensure_venv(venv, index):
    """`venv`'s python, creating the venv and pip-installing PIP_PACKAGES where missing."""
    py = Path(venv).resolve() / "bin/python"
    if not py.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if not has_torch(py):
        pip, rest = [str(py), "-m", "pip", "install"], PIP_PACKAGES
        if index:  # torch from that index, the rest from PyPI
            subprocess.run(pip + ["--index-url", index, "torch"], check=True)
            rest = [p for p in PIP_PACKAGES if p != "torch"]
        subprocess.run(pip + rest, check=True)
    return py


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10, help="timed steps (after --warmup)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--repeats", type=int, default=1, help="interleaved runs; the table shows medians")
    p.add_argument("--models", default="gpt2,llama", help=f"comma list of {', '.join(MODELS)}")
    p.add_argument("--data", default="default", help="a lineage data folder, or `default`")
    p.add_argument("--lineage", help="lineage binary (default target/release, else target/debug)")
    p.add_argument("--python", default=sys.executable, help="interpreter with torch + transformers")
    p.add_argument("--venv", help="create/use this venv, pip-installing " + " ".join(PIP_PACKAGES))
    p.add_argument("--torch-index", help="pip index for torch, e.g. https://download.pytorch.org/whl/cpu")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--keep", type=Path, help="keep the lineage run folders under this folder")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--attn", default="eager", help=argparse.SUPPRESS)
    p.add_argument("--sgemm", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args()


def median_run(runs):
    """Per-key median of the measured (float) fields over repeats; the rest (params,
    versions) from the first run."""
    out = dict(runs[0])
    for k, v in out.items():
        if isinstance(v, float):
            out[k] = statistics.median(r[k] for r in runs)
    out["repeats"] = len(runs)
    return out


def bench_model(args, name, workdir):
    """lineage, torch eager, torch sdpa, interleaved `--repeats` times (the same machine
    noise for all three); the PyTorch model is built from lineage's first run."""
    runs = {fw: [] for fw in FRAMEWORKS}
    cfg_path = workdir / f"lineage-{name}-0" / "model_config.json"
    for i in range(args.repeats):
        runs["lineage"].append(run_lineage(args, name, workdir / f"lineage-{name}-{i}"))
        for attn in ["eager", "sdpa"]:
            runs[f"torch-{attn}"].append(run_torch(args, cfg_path, attn))
    row = {"model": name, **{fw: median_run(r) for fw, r in runs.items()}}
    ours = row["lineage"]["params"]
    for fw in FRAMEWORKS[1:]:
        theirs = row[fw]["params"]
        assert theirs == ours, f"{name}: PyTorch ({fw}) has {theirs:,} params, lineage {ours:,}"
    row["config"] = json.loads(cfg_path.read_text())
    row["flops_per_token"], row["n_flop"] = flops_per_token(row["config"], ours, args.seq_len)
    return row


def main():
    args = parse()
    if args.worker:
        return worker(args)
    if args.sgemm:
        return sgemm_peak(args)
    if min(args.warmup, args.steps, args.repeats) < 1:
        sys.exit("--warmup, --steps and --repeats must be >= 1")
    if args.venv:
        args.python = ensure_venv(args.venv, args.torch_index)
    elif not has_torch(args.python):
        sys.exit(f"{args.python} lacks one of {', '.join(PIP_PACKAGES)}: pass --python PATH "
                 "or --venv DIR (creates it and pip-installs them)")
    args.exe, args.build = lineage_exe(args.lineage)
    args.data_arg = args.data
    args.data = DATA if args.data == "default" else Path(args.data)
    load0 = machine()[2]
    workdir = Path(tempfile.mkdtemp(prefix="train-vs-torch-"))
    try:
        results = [bench_model(args, m.strip(), workdir) for m in args.models.split(",")]
    finally:
        if args.keep:
            shutil.copytree(workdir, args.keep, dirs_exist_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)
    peak_out, _ = run_measured([str(args.python), str(Path(__file__).resolve()), "--sgemm",
                                "--threads", str(args.threads)], thread_env(args.threads))
    peak = json.loads(peak_out.strip().splitlines()[-1])["gflop_s"]
    print_report(args, results, peak, load0)
    if args.json:
        for r in results:
            r.pop("config")
        args.json.write_text(json.dumps({"date": datetime.date.today().isoformat(),
                                         "machine": machine()[:2], "threads": args.threads,
                                         "sgemm_gflop_s": peak, "results": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
