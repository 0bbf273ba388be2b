#!/usr/bin/env python3
"""Training oracles for `lineage train`: ten AdamW steps of tiny HF models, in float64.

    python make_train_fixtures.py --out crates/lineage/tests/fixtures/train [--only gpt2,llama,mixtral]

llm.c-style fixtures: for every case a tiny model is built from an explicit config (nothing
comes from a hub), initialised by HF's own `_init_weights` in float32, converted to float64
and trained for ten steps (explicit loss, AdamW foreach=False, warmup + cosine lr, global-norm
clipping).  The same ten steps are repeated in float32 to measure the tolerances an f32
implementation can be held to.  Per case it writes

    DIR/<case>/config.json, model.safetensors              the initial model (save_pretrained, f32)
    DIR/<case>/grads/{config.json,model.safetensors}       d loss(step 0) / d params at init, pre-clip,
                                                           laid out exactly as a checkpoint
    DIR/<case>/after/{config.json,model.safetensors}       the parameters after the ten steps
    DIR/<case>/steps.safetensors                           batches, loss, ce, aux, z, grad_norm, lr
    DIR/<case>/train.json                                  hyperparameters, groups, seeds, tolerances

The float64 run is exact float64: HF computes RMSNorm, RoPE, attention and router softmax in
float32 even for a float64 model, so those modules are patched (on the f64 copy only) to
compute in max(input dtype, float32), and a TorchFunctionMode check proves no float32 tensor
is produced in the f64 forward.  See ../../crates/lineage/tests/fixtures/train/README.md.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import platform
import shutil
import types
import zlib

import numpy as np
import safetensors
import torch
import torch.nn.functional as F
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from torch.overrides import TorchFunctionMode
from transformers import AutoModelForCausalLM
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

_NO_SPECIAL = dict(bos_token_id=None, eos_token_id=None, pad_token_id=None)
_ROPE = dict(rope_type="default", rope_theta=10000.0)
CASES = {
    "gpt2": ("gpt2", dict(vocab_size=256, n_embd=64, n_layer=2, n_head=4, n_positions=64,
                          activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)),
    "llama": ("llama", dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                            num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5,
                            max_position_embeddings=64, tie_word_embeddings=False, rope_parameters=_ROPE)),
    "mixtral": ("mixtral", dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, num_local_experts=4,
                                num_experts_per_tok=2, max_position_embeddings=64, rms_norm_eps=1e-5,
                                tie_word_embeddings=False, sliding_window=None, router_jitter_noise=0.0,
                                rope_parameters=_ROPE)),
}
HP = dict(lr_max=3e-3, lr_min=3e-4, warmup=3, total_steps=10, schedule="cosine", betas=[0.9, 0.95], eps=1e-8,
          weight_decay=0.1, clip=1.0, balance_coef=0.01, z_coef=0.001, B=2, T=16, initializer_range=0.02)
EMBEDDING_NAMES = ("wte", "wpe", "embed_tokens")
# A routing choice whose k-th / (k+1)-th router logits are closer than this (anywhere in the
# ten f64 steps) could flip in another f32 implementation: such draws are re-seeded.
MIN_ROUTER_MARGIN = 1e-4
MAX_ATTEMPTS = 12


# --------------------------------------------------------------------------------------
# Schedule, loss, parameter groups
# --------------------------------------------------------------------------------------
def lr_at(s: int) -> float:
    """Linear warmup over `warmup` steps to lr_max, then cosine to lr_min at total_steps."""
    lr_max, lr_min, w, n = HP["lr_max"], HP["lr_min"], HP["warmup"], HP["total_steps"]
    if s < w:
        return lr_max * (s + 1) / w
    progress = (s - w) / (n - w)
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + math.cos(math.pi * progress))


def moe_terms(router_logits, k: int):
    """Switch-style balance loss, router z-loss (both summed over layers), chosen experts, min margin."""
    aux, z, chosen, margin = 0.0, 0.0, [], float("inf")
    for R in router_logits:  # [N, E] per MoE layer
        n, e = R.shape
        probs = torch.softmax(R, dim=-1)
        idx = probs.topk(k, dim=-1).indices  # [N, k]
        counts = F.one_hot(idx, e).sum(dim=(0, 1)).to(probs.dtype)
        f = (counts / (n * k)).detach()
        aux = aux + e * (f * probs.mean(0)).sum()
        z = z + torch.logsumexp(R, dim=-1).pow(2).mean()
        srt = R.detach().sort(-1, descending=True).values
        margin = min(margin, float((srt[:, k - 1] - srt[:, k]).min()))
        chosen.append(idx.sort(-1).values)
    return aux, z, torch.stack(chosen), margin


@contextlib.contextmanager
def router_logits_of(model):
    """Collect each router's logits [N, E] in layer order: the tensor HF's output_router_logits=True
    returns (its OutputRecorder hooks the same output), without HF's own float32 aux-loss code."""
    got, handles = [], []
    for m in model.modules():
        if type(m).__name__.endswith("TopKRouter"):
            handles.append(m.register_forward_hook(lambda _m, _i, out: got.append(out[0])))
    try:
        yield got
    finally:
        for h in handles:
            h.remove()


def loss_terms(model, ids, moe: bool) -> dict:
    """loss = ce + balance_coef * aux + z_coef * z (dense: loss = ce), computed from the logits."""
    x, y = ids[:, :-1], ids[:, 1:]
    with router_logits_of(model) as router_logits:
        out = model(input_ids=x, use_cache=False)
    ce = F.cross_entropy(out.logits.reshape(-1, out.logits.shape[-1]), y.reshape(-1))
    if not moe:
        zero = ce.detach() * 0
        return dict(loss=ce, ce=ce, aux=zero, z=zero, chosen=None, margin=float("inf"))
    assert len(router_logits) == model.config.num_hidden_layers
    aux, z, chosen, margin = moe_terms(router_logits, model.config.num_experts_per_tok)
    loss = ce + HP["balance_coef"] * aux + HP["z_coef"] * z
    return dict(loss=loss, ce=ce, aux=aux, z=z, chosen=chosen, margin=margin)


@torch.no_grad()
def check_router_capture(model, ids):
    """The hooked router logits are exactly HF's `output_router_logits=True` tensors."""
    with router_logits_of(model) as hooked:
        out = model(input_ids=ids[:, :-1], use_cache=False, output_router_logits=True)
    assert len(hooked) == len(out.router_logits) and all(
        torch.equal(a, b) for a, b in zip(hooked, out.router_logits)), "router logits capture differs from HF"


def is_decayed(name: str, ndim: int) -> bool:
    """Decay every tensor with >= 2 dims except embedding tables; norms, biases, embeddings: none."""
    return ndim >= 2 and not any(f".{e}." in f".{name}" for e in EMBEDDING_NAMES)


def param_groups(model):
    """(decay, no_decay) lists of (name, param); named_parameters() lists a tied tensor once."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if is_decayed(name, p.dim()) else no_decay).append((name, p))
    return decay, no_decay


# --------------------------------------------------------------------------------------
# Exact float64: HF upcasts to float32 in a few places; on the f64 copy compute in f64
# --------------------------------------------------------------------------------------
def _work_dtype(x):
    return torch.promote_types(x.dtype, torch.float32)


def _rms_forward(self, x):
    h = x.to(_work_dtype(x))
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
    return self.weight * h.to(x.dtype)


@torch.no_grad()
def _rope_forward(self, x, position_ids):
    dt = _work_dtype(x)
    freqs = position_ids[..., None].to(dt) * self.inv_freq.to(device=x.device, dtype=dt)
    emb = torch.cat((freqs, freqs), dim=-1)
    return (emb.cos() * self.attention_scaling).to(x.dtype), (emb.sin() * self.attention_scaling).to(x.dtype)


def _router_forward(self, hidden_states):
    hidden_states = hidden_states.reshape(-1, self.hidden_dim)
    router_logits = F.linear(hidden_states, self.weight)
    probs = torch.softmax(router_logits.to(_work_dtype(router_logits)), dim=-1)
    top_value, top_index = torch.topk(probs, self.top_k, dim=-1)
    top_value = top_value / top_value.sum(dim=-1, keepdim=True)
    return router_logits, top_value, top_index


_PATCHES = {"RMSNorm": _rms_forward, "RotaryEmbedding": _rope_forward, "TopKRouter": _router_forward}


def make_exact_f64(model):
    """Patch (per instance) the modules that upcast to f32, and recompute RoPE inv_freq in f64."""
    for m in model.modules():
        cls = type(m).__name__
        for suffix, fn in _PATCHES.items():
            if cls.endswith(suffix):
                m.forward = types.MethodType(fn, m)
        if cls.endswith("RotaryEmbedding"):
            rp = model.config.rope_parameters
            assert rp["rope_type"] == "default", rp
            dim = model.config.hidden_size // model.config.num_attention_heads
            m.inv_freq = 1.0 / (rp["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    return model


_orig_softmax = F.softmax


def _softmax_keep_f64(input, dim=None, _stacklevel=3, dtype=None):
    if input.dtype == torch.float64 and dtype == torch.float32:
        dtype = torch.float64  # HF eager attention asks for a float32 softmax
    return _orig_softmax(input, dim=dim, _stacklevel=_stacklevel, dtype=dtype)


@contextlib.contextmanager
def f64_softmax(enabled: bool):
    if enabled:
        F.softmax = torch.nn.functional.softmax = _softmax_keep_f64
    try:
        yield
    finally:
        F.softmax = torch.nn.functional.softmax = _orig_softmax


class NoFloat32(TorchFunctionMode):
    """Records every torch function that returns a float32 tensor (must stay empty in the f64 run)."""

    def __init__(self):
        super().__init__()
        self.hits = set()

    def __torch_function__(self, func, types_, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else [out]:
            if isinstance(t, torch.Tensor) and t.dtype == torch.float32:
                self.hits.add(getattr(func, "__name__", str(func)))
        return out


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------
def make_optimizer(model):
    decay, no_decay = param_groups(model)
    groups = [{"params": [p for _, p in decay], "weight_decay": HP["weight_decay"]},
              {"params": [p for _, p in no_decay], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=HP["lr_max"], betas=tuple(HP["betas"]), eps=HP["eps"], foreach=False)


class AdamWByHand:
    """The documented AdamW arithmetic, in float64, to prove torch's step is exactly that."""

    def __init__(self, opt):
        self.opt, self.m, self.v, self.t = opt, {}, {}, 0

    def expected(self):
        b1, b2 = HP["betas"]
        self.t += 1
        out = {}
        for g in self.opt.param_groups:
            for p in g["params"]:
                m = self.m.get(p, torch.zeros_like(p)) * b1 + (1 - b1) * p.grad
                v = self.v.get(p, torch.zeros_like(p)) * b2 + (1 - b2) * p.grad * p.grad
                self.m[p], self.v[p] = m, v
                denom = v.sqrt() / math.sqrt(1 - b2 ** self.t) + HP["eps"]
                out[p] = p.detach() * (1 - g["lr"] * g["weight_decay"]) - g["lr"] / (1 - b1 ** self.t) * m / denom
        return out

    @staticmethod
    def check(expected):
        worst = max(float((p.detach() - e).abs().max() / (e.abs().max() + 1e-30)) for p, e in expected.items())
        assert worst < 1e-12, f"torch AdamW differs from the documented arithmetic by {worst:.2e} (relative)"


def one_step(model, opt, ids, clip, moe, exact):
    """zero grads, forward (f64: with the float32 guard), backward, clip, step; returns terms and norm."""
    opt.zero_grad(set_to_none=True)
    guard = NoFloat32() if exact else contextlib.nullcontext()
    with guard:
        t = loss_terms(model, ids, moe)
    assert not exact or not guard.hits, f"float32 tensors in the f64 forward: {sorted(guard.hits)}"
    t["loss"].backward()
    params = [p for _, p in model.named_parameters()]
    assert all(p.grad is not None for p in params), "a parameter got no gradient"
    t["grads"] = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    t["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, clip, foreach=False))
    return t


def train(model, batches, clip: float, moe: bool, exact: bool) -> dict:
    """Ten steps; per-step scalars and routing, step-0 grads (pre-clip) and final params by HF name."""
    opt = make_optimizer(model)
    by_hand = AdamWByHand(opt) if exact else None
    rec = {k: [] for k in ("loss", "ce", "aux", "z", "grad_norm", "lr", "chosen")}
    rec["margin"] = float("inf")
    with f64_softmax(exact):
        rec["seen_ce_init"] = seen_ce(model, batches)
        for s in range(HP["total_steps"]):
            lr = lr_at(s)
            for g in opt.param_groups:
                g["lr"] = lr
            t = one_step(model, opt, batches[s], clip, moe, exact)
            expected = by_hand.expected() if exact else None
            opt.step()
            if exact:
                by_hand.check(expected)
            if s == 0:
                rec["grads0"] = t["grads"]
            for k in ("loss", "ce", "aux", "z"):
                rec[k].append(float(t[k].detach()))
            rec["grad_norm"].append(t["grad_norm"])
            rec["lr"].append(lr)
            rec["chosen"].append(t["chosen"])
            rec["margin"] = min(rec["margin"], t["margin"])
        rec["final"] = {n: p.detach().clone() for n, p in model.named_parameters()}
        rec["seen_ce_after"] = seen_ce(model, batches)
    return rec


@torch.no_grad()
def seen_ce(model, batches):
    """Mean ce over the ten training batches with the current params (a learning diagnostic)."""
    model.eval()
    ce = [float(loss_terms(model, b, False)["ce"]) for b in batches]
    model.train()
    return float(np.mean(ce))


def engaged(rec, clip):
    """Per step: did clip_grad_norm_ scale the gradients (clip / (norm + 1e-6) < 1)?"""
    return [clip / (g + 1e-6) < 1.0 for g in rec["grad_norm"]]


def clip_margin(rec, clip):
    """Smallest relative distance of a pre-clip norm from the threshold (clip decisions must be robust)."""
    return min(abs(g - clip) / clip for g in rec["grad_norm"])


def run_pair(init32, batches, clip, moe):
    m64 = make_exact_f64(copy.deepcopy(init32).double())
    r64 = train(m64, batches, clip, moe, exact=True)
    r32 = train(copy.deepcopy(init32), batches, clip, moe, exact=False)
    return r64, r32


def choose_clip(init32, batches, moe, log):
    """max_norm 1.0 if it engages on some steps but not all (robustly), else a 2-digit value that does."""
    clip, tried, rejected = HP["clip"], [], []
    for _ in range(6):
        r64, r32 = run_pair(init32, batches, clip, moe)
        e = engaged(r64, clip)
        if any(e) and not all(e) and clip_margin(r64, clip) >= 1e-3 and engaged(r32, clip) == e:
            return clip, r64, r32, rejected
        why = f"clip {clip:g}: engaged on {sum(e)}/{len(e)} steps, margin {clip_margin(r64, clip):.1e}"
        log("  " + why)
        tried.append(clip)
        rejected.append(why)
        norms = sorted(r64["grad_norm"])
        cands = [float(f"{(a + b) / 2:.2g}") for a, b in zip(norms[3:7], norms[4:8])]
        clip = next(c for c in cands + [float(f"{norms[5]:.3g}")] if c not in tried)
    raise RuntimeError("no max_norm found that engages clipping on some but not all steps")


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------
def build_init(model_type, cfg, seed):
    torch.manual_seed(seed)
    config = CONFIG_MAPPING[model_type](**copy.deepcopy(cfg), initializer_range=HP["initializer_range"],
                                        **_NO_SPECIAL)
    return AutoModelForCausalLM.from_config(config, attn_implementation="eager", experts_implementation="eager",
                                            dtype=torch.float32)


def checkpoint_keys(path):
    with safe_open(os.path.join(path, "model.safetensors"), "pt") as f:
        return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}


def save_checkpoint(init32, tensors, path, ref_keys=None):
    """Write `tensors` (by HF param name) with save_pretrained and prove from_pretrained reads them back."""
    m = copy.deepcopy(init32)
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.copy_(tensors[n].to(torch.float32))
    if os.path.exists(path):
        shutil.rmtree(path)
    m.save_pretrained(path)
    back = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager",
                                                experts_implementation="eager")
    for n, p in back.named_parameters():
        assert torch.equal(p.detach(), tensors[n].to(torch.float32)), f"{path}: {n} does not round-trip"
    keys = checkpoint_keys(path)
    assert ref_keys is None or keys == ref_keys, f"{path}: tensor names/shapes differ from the checkpoint"
    return keys


def write_steps(path, batches, r64):
    t = {"batches": batches.contiguous()}
    for k in ("loss", "ce", "aux", "z", "grad_norm", "lr"):
        t[k] = torch.tensor(r64[k], dtype=torch.float64)
    save_file(t, os.path.join(path, "steps.safetensors"), metadata={"format": "pt"})


def rel_block(a: dict, b: dict, scale: dict | None = None):
    """max |a-b| over all tensors, and max over tensors of max|a-b| / max|scale| (scale defaults to b)."""
    worst_abs, worst_rel, where = 0.0, 0.0, None
    for n in b:
        d = float((a[n].double() - b[n]).abs().max())
        s = float((scale or b)[n].abs().max())
        rel = d / s if s > 0 else (0.0 if d == 0 else float("inf"))
        worst_abs = max(worst_abs, d)
        if rel > worst_rel:
            worst_rel, where = rel, n
    return worst_abs, worst_rel, where


def tolerances(r64, r32, init64):
    l64, l32 = np.array(r64["loss"]), np.array(r32["loss"])
    g_abs, g_rel, g_where = rel_block(r32["grads0"], r64["grads0"])
    p_abs, p_rel, p_where = rel_block(r32["final"], r64["final"])
    upd = {n: r64["final"][n] - init64[n] for n in init64}
    _, u_rel, u_where = rel_block(r32["final"], r64["final"], upd)
    gn64, gn32 = np.array(r64["grad_norm"]), np.array(r32["grad_norm"])
    pd = torch.cat([(r32["final"][n].double() - r64["final"][n]).abs().flatten() for n in r64["final"]])
    return {
        "loss_max_abs_diff": float(np.abs(l32 - l64).max()),
        "loss_max_rel_diff": float((np.abs(l32 - l64) / np.abs(l64)).max()),
        "grad_norm_max_rel_diff": float((np.abs(gn32 - gn64) / gn64).max()),
        "grads0_max_abs_diff": g_abs,
        "grads0_max_rel_diff": g_rel, "grads0_worst_tensor": g_where,
        "params_final_max_abs_diff": p_abs,
        "params_final_max_rel_diff": p_rel, "params_final_worst_tensor": p_where,
        "params_final_abs_diff_quantile_0.999": float(torch.quantile(pd, 0.999)),
        "params_final_n_elements_abs_diff_over_1e-5": int((pd > 1e-5).sum()),
        "params_final_n_elements": int(pd.numel()),
        "params_final_diff_rel_to_update": u_rel, "params_final_diff_rel_to_update_worst_tensor": u_where,
        "routing_f32_equals_f64": routing_equal(r64, r32),
        "definition": "f32 run = same init, batches, lr and clip, HF code in float32. rel diff of a tensor = "
                      "max|x32 - x64| / max|x64| over that tensor (update-relative: / max|p64_final - p_init|); "
                      "reported value = max over tensors; loss rel diff = max over steps |l32 - l64| / l64",
    }


def routing_equal(r64, r32):
    return r64["chosen"][0] is None or all(torch.equal(a, b) for a, b in zip(r64["chosen"], r32["chosen"]))


def versions():
    return {"transformers": transformers.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "safetensors": safetensors.__version__, "python": platform.python_version()}


def case_seed(seed: int, name: str, attempt: int) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode()) + attempt * 7919) % (2**31 - 1)


# --------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------
def draw(name, seed, log):
    """Initial model and batches; MoE draws are re-seeded until routing is robust (see MIN_ROUTER_MARGIN)."""
    model_type, cfg = CASES[name]
    moe = "num_local_experts" in cfg
    for attempt in range(MAX_ATTEMPTS):
        wseed = case_seed(seed, name, attempt)
        init32 = build_init(model_type, cfg, wseed)
        rng = np.random.default_rng(wseed + 1)
        shape = (HP["total_steps"], HP["B"], HP["T"] + 1)
        batches = torch.from_numpy(rng.integers(0, cfg["vocab_size"], size=shape, dtype=np.int64))
        if moe:
            check_router_capture(init32, batches[0])
        clip, r64, r32, rejected = choose_clip(init32, batches, moe, log)
        same = routing_equal(r64, r32)
        if not moe or (r64["margin"] >= MIN_ROUTER_MARGIN and same):
            return dict(init32=init32, batches=batches, clip=clip, clip_rejected=rejected, r64=r64, r32=r32, moe=moe,
                        seeds=dict(seed=seed, weight_seed=wseed, batch_seed=wseed + 1, attempt=attempt))
        log(f"  attempt {attempt} rejected: router margin {r64['margin']:.2e}, f32 routing == f64: {same}")
    raise RuntimeError(f"{name}: no robust draw in {MAX_ATTEMPTS} attempts")


def group_names(init32, ckpt_keys):
    """The two AdamW groups, by HF parameter name and by checkpoint tensor name (same rule)."""
    decay, no_decay = param_groups(init32)
    ck_decay = sorted(k for k, s in ckpt_keys.items() if is_decayed(k, len(s)))
    ck_nodecay = sorted(k for k, s in ckpt_keys.items() if not is_decayed(k, len(s)))
    numel = lambda ks: sum(math.prod(ckpt_keys[k]) for k in ks)
    assert numel(ck_decay) == sum(p.numel() for _, p in decay), "decay group differs between names"
    return {
        "rule": "decay (weight_decay 0.1): every tensor with >= 2 dims except embedding tables (wte, wpe, "
                "embed_tokens; a tied lm_head is the wte tensor, so no decay). no decay: 1-D tensors "
                "(norm gains, biases) and embedding tables",
        "decay_params": [n for n, _ in decay], "no_decay_params": [n for n, _ in no_decay],
        "decay_checkpoint_tensors": ck_decay, "no_decay_checkpoint_tensors": ck_nodecay,
        "decay_numel": numel(ck_decay), "no_decay_numel": numel(ck_nodecay),
    }


def train_json(name, d, groups, tol, vers):
    r64, clip = d["r64"], d["clip"]
    hp = dict(HP, clip=clip)
    out = {
        "case": name, "model_type": CASES[name][0],
        "architecture": type(d["init32"]).__name__,
        "num_parameters": sum(p.numel() for p in d["init32"].parameters()),
        "hyperparameters": hp,
        "loss": "ce = F.cross_entropy(logits.reshape(B*T, V), targets.reshape(B*T)) (mean); MoE: per layer l, "
                "R_l [B*T, E] router logits, probs = softmax(R_l), top-k of probs chosen, f_e = count_e / (N k) "
                "(no gradient), P_e = probs.mean(0), aux = sum_l E sum_e f_e P_e, z = sum_l mean_n "
                "logsumexp_e(R_l)^2; loss = ce + balance_coef * aux + z_coef * z (dense: loss = ce)",
        "batches": "steps.safetensors batches[s] [B, T+1] uniform int64 over the vocab; "
                   "input = batches[s][:, :-1], targets = batches[s][:, 1:]",
        "schedule": "s < warmup: lr_max (s+1)/warmup; else p = (s-warmup)/(total_steps-warmup), "
                    "lr = lr_min + 0.5 (lr_max - lr_min)(1 + cos(pi p)); s is 0-based",
        "optimizer": "torch.optim.AdamW(foreach=False) per tensor, t = s+1: p *= 1 - lr wd; m = m + (1-b1)(g-m); "
                     "v = b2 v + (1-b2) g^2; p -= (lr / (1-b1^t)) m / (sqrt(v) / sqrt(1-b2^t) + eps)",
        "clip": "torch.nn.utils.clip_grad_norm_(params, clip): n = ||all grads||_2 (pre-clip, recorded as "
                "grad_norm); every grad *= min(clip / (n + 1e-6), 1)",
        "clip_engaged": engaged(r64, clip),
        "clip_choice": "max_norm 1.0 if it engages on some steps but not all; otherwise a 2-digit value between "
                       "the middle pre-clip norms of the previous try that does, with every norm >= 0.1% away",
        "clip_rejected": d["clip_rejected"],
        "groups": groups,
        "seeds": d["seeds"],
        "init": "torch.manual_seed(weight_seed); AutoModelForCausalLM.from_config (HF _init_weights, "
                "initializer_range 0.02) in float32; the f64 run is model.double() of it",
        "f64_exactness": "RMSNorm, RoPE (inv_freq recomputed in f64), eager-attention softmax and router "
                         "softmax patched to compute in f64 on the f64 copy; checked: no float32 tensor is "
                         "produced in the f64 forward",
        "tolerance_f32_vs_f64": tol,
        "versions": vers,
    }
    out["diagnostics"] = {
        "mean_ce_over_the_10_training_batches_at_init": r64["seen_ce_init"],
        "mean_ce_over_the_10_training_batches_after": r64["seen_ce_after"],
        "clip_min_relative_distance_of_a_norm_from_clip": clip_margin(r64, clip),
        "adamw_matches_documented_arithmetic": "checked every f64 step to 1e-12 relative",
    }
    if d["moe"]:
        out["diagnostics"]["moe_min_router_logit_margin"] = r64["margin"]
        out["diagnostics"]["moe_routing_f32_equals_f64_every_step"] = tol["routing_f32_equals_f64"]
    return out


def run_case(name, out_root, seed, vers, log):
    d = draw(name, seed, log)
    dst = os.path.join(out_root, name)
    if os.path.exists(dst):
        shutil.rmtree(dst)
    init32 = d["init32"]
    init_tensors = {n: p.detach().clone() for n, p in init32.named_parameters()}
    keys = save_checkpoint(init32, init_tensors, dst)
    save_checkpoint(init32, d["r64"]["grads0"], os.path.join(dst, "grads"), keys)
    save_checkpoint(init32, d["r64"]["final"], os.path.join(dst, "after"), keys)
    write_steps(dst, d["batches"], d["r64"])
    init64 = {n: t.double() for n, t in init_tensors.items()}
    tol = tolerances(d["r64"], d["r32"], init64)
    meta = train_json(name, d, group_names(init32, keys), tol, vers)
    with open(os.path.join(dst, "train.json"), "w") as f:
        json.dump(meta, f, indent=1)
    for sub in (dst, os.path.join(dst, "grads"), os.path.join(dst, "after")):
        for fn in os.listdir(sub):
            if os.path.isfile(os.path.join(sub, fn)):
                os.chmod(os.path.join(sub, fn), 0o644)
    return meta


def summary(meta, r):
    t = meta["tolerance_f32_vs_f64"]
    return (f"  loss {' '.join(f'{x:.4f}' for x in r['loss'])}\n"
            f"  grad_norm {' '.join(f'{x:.3f}' for x in r['grad_norm'])} clip={meta['hyperparameters']['clip']} "
            f"engaged={sum(meta['clip_engaged'])}/10\n"
            f"  f32-f64: loss {t['loss_max_abs_diff']:.2e} (rel {t['loss_max_rel_diff']:.2e}) grads0 rel "
            f"{t['grads0_max_rel_diff']:.2e} params rel {t['params_final_max_rel_diff']:.2e} "
            f"(update-rel {t['params_final_diff_rel_to_update']:.2e})\n"
            f"  aux {' '.join(f'{x:.4f}' for x in r['aux'])}\n  z {' '.join(f'{x:.4f}' for x in r['z'])}\n"
            f"  seen-batch ce {meta['diagnostics']['mean_ce_over_the_10_training_batches_at_init']:.4f} -> "
            f"{meta['diagnostics']['mean_ce_over_the_10_training_batches_after']:.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="comma-separated case names (gpt2,llama,mixtral)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    only = [x for x in args.only.split(",") if x] or list(CASES)
    unknown = [x for x in only if x not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; known: {list(CASES)}")
    os.makedirs(args.out, exist_ok=True)
    vers = versions()
    for name in only:
        print(f"[{name}]", flush=True)
        meta = run_case(name, args.out, args.seed, vers, lambda m: print(m, flush=True))
        with safe_open(os.path.join(args.out, name, "steps.safetensors"), "pt") as f:
            r = {k: f.get_tensor(k).tolist() for k in ("loss", "grad_norm", "aux", "z")}
        print(summary(meta, r), flush=True)


if __name__ == "__main__":
    main()
