"""Token neurons: logit lens, activation patching per layer and per MLP neuron, neuron-token congruence.

Everything reads the model through ``lmdyn.core.internals.Internals`` (TransformerLens-style hook names).
The metric is the logit difference ``z[a] - z[b]`` of a target token pair at the last position of a
prompt; patching results are normalised ``(patched - corrupted) / (clean - corrupted)``, so 0 is the
corrupted run and 1 the clean one.

Congruence of neuron (l, n) with token t is ``W_out[l, n] . W_U[t]`` (TransformerLens orientation),
with the unembedding centred over tokens by default (TransformerLens' ``center_unembed``; the
original used the processed matrix). It is computed in chunks and never materialised: running top-2
over tokens per neuron and over neurons per token.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lmdyn.core.errors import UserError

LENS_MODES = ("per_layer", "final_scale")


COMPONENTS = ("resid_pre", "attn_out", "mlp_out")


def target_id(tokenizer, prompt_name: str, token: str) -> int:
    """The single token id of ``token``; anything else is a one-line UserError."""
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) != 1:
        pieces = tokenizer.convert_ids_to_tokens(ids)
        raise UserError(
            f"neurons: target {token!r} of prompt {prompt_name!r} is not a single token of the suite's "
            f"tokenizer (it splits into {pieces}); choose a single-token target"
        )
    return int(ids[0])


def encode_pair(
    tokenizer, name: str, clean: str, corrupted: str, prepend_bos: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [1, T] of both prompts; they must have the same length (patching is position by position)."""

    def enc(text):
        ids = tokenizer.encode(text, add_special_tokens=False)
        if prepend_bos:
            if tokenizer.bos_token_id is None:
                raise UserError(
                    f"neurons: prompt {name!r} asks for a BOS token but the tokenizer has none; "
                    "set neurons.prepend_bos: false"
                )
            ids = [tokenizer.bos_token_id] + ids
        return torch.tensor([ids], dtype=torch.long)

    a, b = enc(clean), enc(corrupted)
    if a.shape != b.shape:
        raise UserError(
            f"neurons: prompt {name!r}: clean and corrupted prompts have {a.shape[1]} and {b.shape[1]} "
            "tokens; patching needs equal lengths"
        )
    return a, b


def _diff_dir(ix, a: int, b: int) -> tuple[torch.Tensor, float]:
    w = ix.W_U[a] - ix.W_U[b]
    bias = 0.0 if ix.b_U is None else float(ix.b_U[a] - ix.b_U[b])
    return w, bias


def logit_diff(logits: torch.Tensor, a: int, b: int) -> torch.Tensor:
    """z[a] - z[b] at the last position, one value per batch row."""
    return logits[:, -1, a] - logits[:, -1, b]


def final_norm_module(model):
    """The final LayerNorm of a GPT-2, GPT-Neo or GPT-NeoX model."""
    base = model.base_model
    for name in ("ln_f", "final_layer_norm"):
        if hasattr(base, name):
            return getattr(base, name)
    raise UserError(f"neurons: no final layer norm found in {type(model).__name__}")


@torch.no_grad()
def logit_lens(
    ix, ids: torch.Tensor, a: int, b: int, mode: str = "per_layer", model=None
) -> pd.DataFrame:
    """Logit difference at the last position after the embedding and after every block.

    ``per_layer``: each layer's residual goes through the final norm with its own statistics.
    ``final_scale``: each layer's residual is centred and divided by the final layer's norm scale
    (the original; TransformerLens ``apply_ln_to_stack``), then the final norm's gain and bias;
    needs ``model`` (to read the norm's parameters). Both equal the model's logit difference at the
    last layer. Columns: layer (0 = embedding, l = after block l-1), name, logit_diff, mode.
    """
    if mode not in LENS_MODES:
        raise UserError(f"neurons: unknown logit-lens mode {mode!r}; expected one of {LENS_MODES}")
    names = ["hook_embed"] + [f"blocks.{i}.hook_resid_post" for i in range(ix.n_layers)]
    _, cache = ix.run(ids, names=names)
    x = torch.stack([cache[n][0, -1] for n in names]).float()  # [C, d]
    w, bias = _diff_dir(ix, a, b)
    if mode == "per_layer":
        normed = ix.ln_final(x)
    else:
        ln = final_norm_module(model)
        xc = x - x.mean(-1, keepdim=True)
        scale = (xc[-1].pow(2).mean() + ln.eps).sqrt()
        normed = xc / scale * ln.weight.float() + (0 if ln.bias is None else ln.bias.float())
    ld = (normed @ w + bias).cpu().numpy()
    return pd.DataFrame(
        {
            "layer": np.arange(len(names)),
            "name": ["embed"] + [f"block{i}" for i in range(ix.n_layers)],
            "logit_diff": ld,
            "mode": mode,
        }
    )


def _hook(component: str, layer: int) -> str:
    return {
        "resid_pre": f"blocks.{layer}.hook_resid_pre",
        "attn_out": f"blocks.{layer}.hook_attn_out",
        "mlp_out": f"blocks.{layer}.hook_mlp_out",
    }[component]


@torch.no_grad()
def prompt_summary(ix, clean: torch.Tensor, corrupted: torch.Tensor, a: int, b: int) -> dict:
    """Probabilities of both targets and their logit difference, clean and corrupted (the model's logits)."""
    out = {}
    for tag, ids in (("clean", clean), ("corrupted", corrupted)):
        logits, _ = ix.run(ids, names=[])
        p = torch.softmax(logits[0, -1].double(), -1)
        out[f"p_a_{tag}"] = float(p[a])
        out[f"p_b_{tag}"] = float(p[b])
        out[f"logit_diff_{tag}"] = float(logit_diff(logits, a, b)[0])
    return out


def _normalise(patched, clean_ld: float, corrupted_ld: float):
    den = clean_ld - corrupted_ld
    if abs(den) < 1e-6:
        return np.full(np.shape(patched), np.nan)
    return (np.asarray(patched, dtype=np.float64) - corrupted_ld) / den


@torch.no_grad()
def full_patch(ix, clean: torch.Tensor, corrupted: torch.Tensor, a: int, b: int, names) -> float:
    """Restored fraction when the clean values of ``names`` replace the corrupted ones at every position."""
    names = list(names)
    clean_logits, cache = ix.run(clean, names=names)
    corr_logits, _ = ix.run(corrupted, names=[])
    patches = {n: (lambda v, src=cache[n]: src.to(v.dtype).expand_as(v).clone()) for n in names}
    logits, _ = ix.run(corrupted, names=[], patches=patches)
    c_ld, k_ld = float(logit_diff(clean_logits, a, b)[0]), float(logit_diff(corr_logits, a, b)[0])
    return float(_normalise([float(logit_diff(logits, a, b)[0])], c_ld, k_ld)[0])


@torch.no_grad()
def layer_patching(
    ix,
    clean: torch.Tensor,
    corrupted: torch.Tensor,
    a: int,
    b: int,
    components=COMPONENTS,
    batch: int = 64,
) -> pd.DataFrame:
    """Patch the clean value of one component at one (layer, position) into the corrupted run.

    One forward per (component, layer) with the positions stacked in the batch (row i patches
    position i). Columns: component, layer, position, logit_diff, restored.
    """
    T = clean.shape[1]
    names = [_hook(c, l) for c in components for l in range(ix.n_layers)]
    clean_logits, clean_cache = ix.run(clean, names=names)
    corr_logits, _ = ix.run(corrupted, names=[])
    c_ld, k_ld = float(logit_diff(clean_logits, a, b)[0]), float(logit_diff(corr_logits, a, b)[0])
    rows = []
    for comp in components:
        for l in range(ix.n_layers):
            name = _hook(comp, l)
            src = clean_cache[name][0]
            for s in range(0, T, batch):
                pos = torch.arange(s, min(T, s + batch))
                r = torch.arange(len(pos))

                def patch(v, pos=pos, r=r, src=src):
                    v = v.clone()
                    v[r, pos] = src[pos].to(v.dtype)
                    return v

                logits, _ = ix.run(corrupted.expand(len(pos), -1), names=[], patches={name: patch})
                ld = logit_diff(logits, a, b).cpu().numpy()
                rows.append(
                    pd.DataFrame(
                        {"component": comp, "layer": l, "position": pos.numpy(), "logit_diff": ld}
                    )
                )
    out = pd.concat(rows, ignore_index=True)
    out["restored"] = _normalise(out.logit_diff, c_ld, k_ld)
    return out


@torch.no_grad()
def neuron_patching(
    ix, clean: torch.Tensor, corrupted: torch.Tensor, a: int, b: int, layers, batch: int = 256
) -> pd.DataFrame:
    """Set one MLP neuron's post-activation to its clean value at all positions, in the corrupted run.

    Every neuron of ``layers``, neurons stacked in the batch; plus the whole layer patched at once
    (neuron = -1). Columns: layer, neuron, logit_diff, restored.
    """
    names = [f"blocks.{l}.mlp.hook_post" for l in layers]
    clean_logits, cache = ix.run(clean, names=names)
    corr_logits, _ = ix.run(corrupted, names=[])
    c_ld, k_ld = float(logit_diff(clean_logits, a, b)[0]), float(logit_diff(corr_logits, a, b)[0])
    rows = []
    for l, name in zip(layers, names):
        src = cache[name][0]  # [T, d_mlp]
        n_mlp = src.shape[-1]
        for s in range(0, n_mlp, batch):
            nn_ = torch.arange(s, min(n_mlp, s + batch))
            r = torch.arange(len(nn_))

            def patch(v, nn_=nn_, r=r, src=src):
                v = v.clone()
                v[r, :, nn_] = src[:, nn_].T.to(v.dtype)
                return v

            logits, _ = ix.run(corrupted.expand(len(nn_), -1), names=[], patches={name: patch})
            rows.append(
                pd.DataFrame(
                    {
                        "layer": l,
                        "neuron": nn_.numpy(),
                        "logit_diff": logit_diff(logits, a, b).cpu().numpy(),
                    }
                )
            )
        logits, _ = ix.run(
            corrupted,
            names=[],
            patches={name: lambda v, src=src: src[None].to(v.dtype).expand_as(v).clone()},
        )
        rows.append(
            pd.DataFrame(
                {"layer": [l], "neuron": [-1], "logit_diff": logit_diff(logits, a, b).cpu().numpy()}
            )
        )
    out = pd.concat(rows, ignore_index=True)
    out["restored"] = _normalise(out.logit_diff, c_ld, k_ld)
    return out


def choose_layers(
    layer_patch: pd.DataFrame, n_layers: int, d_mlp: int, spec, max_neurons: int
) -> list[int]:
    """Layers for neuron patching: ``spec`` "all", a list of layers, or "auto" (all layers when
    n_layers * d_mlp <= max_neurons, else the layers whose mlp_out patch restores most, as many as fit)."""
    if isinstance(spec, (list, tuple)):
        bad = [l for l in spec if not 0 <= int(l) < n_layers]
        if bad:
            raise UserError(f"neurons.patch_layers has layers {bad} outside 0..{n_layers - 1}")
        return sorted(int(l) for l in spec)
    if spec == "all" or n_layers * d_mlp <= max_neurons:
        return list(range(n_layers))
    m = layer_patch[layer_patch.component == "mlp_out"].groupby("layer").restored.max().abs()
    k = max(1, max_neurons // d_mlp)
    return sorted(int(l) for l in m.sort_values(ascending=False, kind="stable").index[:k])


def _top2_merge(
    vals: torch.Tensor, idx: torch.Tensor, new_vals: torch.Tensor, new_idx: torch.Tensor
):
    """Top-2 (values, indices) along dim 1 of the union of two [rows, k] candidate sets."""
    v = torch.cat([vals, new_vals], 1)
    i = torch.cat([idx, new_idx], 1)
    top = torch.topk(v, 2, dim=1)
    return top.values, torch.gather(i, 1, top.indices)


@torch.no_grad()
def congruence_scan(
    w_out,
    n_layers: int,
    W_U: torch.Tensor,
    targets=(),
    center: bool = True,
    vocab_chunk: int = 8192,
) -> dict:
    """Running top-2 of W_out[l, n] . W_U[t] over tokens (per neuron) and over neurons (per token).

    ``w_out(l)`` returns layer l's [d_mlp, d] output weights (so a caller can stream them from disk).
    Memory: one [d_mlp, vocab_chunk] block plus per-neuron and per-token top-2 arrays. Returns
    float32/int64 numpy arrays: neuron_top [L*N, 2] values and neuron_top_token [L*N, 2];
    token_top [V, 2] and token_top_neuron [V, 2] (flat neuron index l * d_mlp + n);
    targets [L*N, len(targets)] congruence with the target tokens; d_mlp.
    """
    W_U = W_U.float()
    if center:
        W_U = W_U - W_U.mean(0, keepdim=True)
    V, dev = W_U.shape[0], W_U.device
    tok_v = torch.full((V, 2), -torch.inf, device=dev)
    tok_i = torch.full((V, 2), -1, dtype=torch.long, device=dev)
    neuron_v, neuron_i, tgt = [], [], []
    targets = list(targets)
    d_mlp = None
    for l in range(n_layers):
        W = w_out(l).float().to(dev)
        d_mlp = W.shape[0]
        nv = torch.full((d_mlp, 2), -torch.inf, device=dev)
        ni = torch.full((d_mlp, 2), -1, dtype=torch.long, device=dev)
        base = l * d_mlp
        for s in range(0, V, vocab_chunk):
            block = W @ W_U[s : s + vocab_chunk].T  # [d_mlp, chunk]
            k = min(2, block.shape[1])
            t = torch.topk(block, k, dim=1)
            tv, ti = t.values, t.indices + s
            if k < 2:
                tv = torch.cat([tv, torch.full_like(tv, -torch.inf)], 1)
                ti = torch.cat([ti, torch.full_like(ti, -1)], 1)
            nv, ni = _top2_merge(nv, ni, tv, ti)
            k = min(2, d_mlp)
            t = torch.topk(block, k, dim=0)  # [k, chunk]
            cv, ci = t.values.T, t.indices.T + base
            if k < 2:
                cv = torch.cat([cv, torch.full_like(cv, -torch.inf)], 1)
                ci = torch.cat([ci, torch.full_like(ci, -1)], 1)
            tok_v[s : s + vocab_chunk], tok_i[s : s + vocab_chunk] = _top2_merge(
                tok_v[s : s + vocab_chunk], tok_i[s : s + vocab_chunk], cv, ci
            )
        neuron_v.append(nv)
        neuron_i.append(ni)
        if targets:
            tgt.append(W @ W_U[targets].T)
    return {
        "neuron_top": torch.cat(neuron_v).cpu().numpy(),
        "neuron_top_token": torch.cat(neuron_i).cpu().numpy(),
        "token_top": tok_v.cpu().numpy(),
        "token_top_neuron": tok_i.cpu().numpy(),
        "targets": torch.cat(tgt).cpu().numpy() if targets else np.zeros((0, 0), np.float32),
        "d_mlp": int(d_mlp),
    }


def exclusive_pairs(scan: dict, top: int = 20) -> pd.DataFrame:
    """Mutually exclusive neuron-token pairs, scored (gap to the second-best neuron) x (gap to the second-best token).

    A pair (neuron n, token t): n is t's most congruent neuron and t is n's most congruent token.
    Columns: layer, neuron, token_id, congruence, neuron_gap, token_gap, score; best first.
    """
    d_mlp = scan["d_mlp"]
    tok_best = scan["token_top_neuron"][:, 0]
    tokens = np.arange(len(tok_best))
    mutual = scan["neuron_top_token"][tok_best, 0] == tokens
    t = tokens[mutual]
    n = tok_best[mutual]
    neuron_gap = scan["token_top"][t, 0] - scan["token_top"][t, 1]
    token_gap = scan["neuron_top"][n, 0] - scan["neuron_top"][n, 1]
    df = pd.DataFrame(
        {
            "layer": n // d_mlp,
            "neuron": n % d_mlp,
            "token_id": t,
            "congruence": scan["token_top"][t, 0],
            "neuron_gap": neuron_gap,
            "token_gap": token_gap,
            "score": neuron_gap.astype(np.float64) * token_gap,
        }
    )
    return (
        df.sort_values(["score", "token_id"], ascending=[False, True], kind="stable")
        .head(top)
        .reset_index(drop=True)
    )


@torch.no_grad()
def neuron_token_congruence(ix, layer: int, neuron: int, center: bool = True) -> np.ndarray:
    """Congruence of one neuron with every token [V] (its outliers are the tokens it writes)."""
    W_U = ix.W_U.float()
    if center:
        W_U = W_U - W_U.mean(0, keepdim=True)
    return (W_U @ ix.W_out(layer)[neuron].float().to(W_U.device)).cpu().numpy()


@torch.no_grad()
def activation_vs_prediction(
    ix, windows: list[np.ndarray], pairs, n_bins: int = 20, batch_size: int = 16
) -> pd.DataFrame:
    """A neuron's activation in bins against the share of positions whose top-1 prediction is the token.

    ``pairs``: (layer, neuron, token_id). Top-1 is the argmax of the model's real logits at every
    position of every window. Bins are equal-width over the observed activation range. Columns:
    layer, neuron, token_id, bin, act_low, act_high, count, top1_share.
    """
    pairs = [(int(l), int(n), int(t)) for l, n, t in pairs]
    if not pairs:
        return pd.DataFrame(
            columns=[
                "layer",
                "neuron",
                "token_id",
                "bin",
                "act_low",
                "act_high",
                "count",
                "top1_share",
            ]
        )
    layers = sorted({l for l, _, _ in pairs})
    names = [f"blocks.{l}.mlp.hook_post" for l in layers]
    acts = {p: [] for p in pairs}
    hits = {p: [] for p in pairs}
    by_len: dict[int, list[int]] = {}
    for i, w in enumerate(windows):
        by_len.setdefault(len(w), []).append(i)
    for L in sorted(by_len):
        idx = by_len[L]
        for s in range(0, len(idx), batch_size):
            ids = torch.from_numpy(
                np.stack([windows[j] for j in idx[s : s + batch_size]]).astype(np.int64)
            )
            logits, cache = ix.run(ids, names=names)
            top1 = logits.argmax(-1).reshape(-1).cpu()
            for p in pairs:
                l, n, t = p
                acts[p].append(
                    cache[f"blocks.{l}.mlp.hook_post"][..., n].reshape(-1).float().cpu().numpy()
                )
                hits[p].append((top1 == t).numpy())
    rows = []
    for p in pairs:
        a = np.concatenate(acts[p]).astype(np.float64)
        h = np.concatenate(hits[p])
        lo, hi = float(a.min()), float(a.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, n_bins + 1)
        b = np.clip(np.searchsorted(edges, a, side="right") - 1, 0, n_bins - 1)
        count = np.bincount(b, minlength=n_bins)
        share = np.bincount(b, weights=h, minlength=n_bins) / np.maximum(count, 1)
        share[count == 0] = np.nan
        rows.append(
            pd.DataFrame(
                {
                    "layer": p[0],
                    "neuron": p[1],
                    "token_id": p[2],
                    "bin": np.arange(n_bins),
                    "act_low": edges[:-1],
                    "act_high": edges[1:],
                    "count": count,
                    "top1_share": share,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


# ---- one checkpoint, every prompt pair -------------------------------------------------------------


def _tok(tokenizer, ids) -> list[str]:
    return [tokenizer.decode([int(i)]) for i in ids]


def checkpoint_tables(
    step: int,
    ix,
    tokenizer,
    prompts: list[dict],
    targets: list[str],
    prepend_bos: bool,
    windows: list[np.ndarray],
    patch_layers="auto",
    max_patch_neurons: int = 4096,
    lens_modes=("per_layer", "final_scale"),
    center: bool = True,
    top_pairs: int = 20,
    n_activation_pairs: int = 3,
    n_bins: int = 20,
    n_outliers: int = 10,
    vocab_chunk: int = 8192,
    batch_size: int = 16,
) -> dict[str, pd.DataFrame]:
    """Every token-neuron table of one checkpoint (each with a ``step`` column).

    prompts: [{name, clean, corrupted}]; targets: [a, b] (single tokens). The top neuron of a prompt is
    the neuron whose clean value restores the largest fraction of the logit difference.
    """
    if not prompts or len(targets) != 2:
        raise UserError("neurons: give at least one prompt pair and exactly two target tokens")
    a, b = (target_id(tokenizer, prompts[0]["name"], t) for t in targets)
    out: dict[str, list[pd.DataFrame]] = {
        k: [] for k in ("summary", "lens", "layer_patch", "neuron_patch", "top_neuron", "outliers")
    }
    tops = []
    for p in prompts:
        clean, corr = encode_pair(tokenizer, p["name"], p["clean"], p["corrupted"], prepend_bos)
        s = prompt_summary(ix, clean, corr, a, b)
        out["summary"].append(
            pd.DataFrame(
                [{"prompt": p["name"], "target_a": targets[0], "target_b": targets[1], **s}]
            )
        )
        for mode in lens_modes:
            lens = logit_lens(ix, clean, a, b, mode=mode, model=ix.model)
            lens.insert(0, "prompt", p["name"])
            out["lens"].append(lens)
        lp = layer_patching(ix, clean, corr, a, b, batch=batch_size * 4)
        lp["token"] = np.asarray(_tok(tokenizer, clean[0].tolist()))[lp.position]
        lp.insert(0, "prompt", p["name"])
        out["layer_patch"].append(lp)
        layers = choose_layers(lp, ix.n_layers, ix.d_mlp, patch_layers, max_patch_neurons)
        npatch = neuron_patching(ix, clean, corr, a, b, layers, batch=batch_size * 16)
        npatch.insert(0, "prompt", p["name"])
        out["neuron_patch"].append(npatch)
        single = npatch[npatch.neuron >= 0]
        if single.restored.notna().any():
            best = single.loc[single.restored.idxmax()]
            l, n = int(best.layer), int(best.neuron)
            cong = neuron_token_congruence(ix, l, n, center=center)
            whole = npatch[(npatch.layer == l) & (npatch.neuron == -1)].restored.iloc[0]
            rank_a = int((cong > cong[a]).sum()) + 1
            out["top_neuron"].append(
                pd.DataFrame(
                    [
                        {
                            "prompt": p["name"],
                            "layer": l,
                            "neuron": n,
                            "restored": float(best.restored),
                            "layer_restored": float(whole),
                            "congruence_a": float(cong[a]),
                            "congruence_b": float(cong[b]),
                            "rank_a": rank_a,
                            "congruence_mean": float(cong.mean()),
                            "congruence_std": float(cong.std()),
                        }
                    ]
                )
            )
            order = np.argsort(-cong, kind="stable")[:n_outliers]
            out["outliers"].append(
                pd.DataFrame(
                    {
                        "prompt": p["name"],
                        "layer": l,
                        "neuron": n,
                        "rank": np.arange(1, len(order) + 1),
                        "token_id": order,
                        "token": _tok(tokenizer, order),
                        "congruence": cong[order],
                        "z": (cong[order] - cong.mean()) / max(cong.std(), 1e-12),
                    }
                )
            )
            tops.append((l, n, a, "top patched neuron", p["name"]))
    scan = congruence_scan(
        ix.W_out, ix.n_layers, ix.W_U, targets=[a, b], center=center, vocab_chunk=vocab_chunk
    )
    ex = exclusive_pairs(scan, top=top_pairs)
    ex.insert(0, "rank", np.arange(1, len(ex) + 1))
    ex["token"] = _tok(tokenizer, ex.token_id)
    tables = {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in out.items()}
    tables["exclusive"] = ex
    flat = np.arange(scan["targets"].shape[0])
    tables["target_congruence"] = pd.DataFrame(
        {
            "layer": flat // scan["d_mlp"],
            "neuron": flat % scan["d_mlp"],
            "congruence_a": scan["targets"][:, 0],
            "congruence_b": scan["targets"][:, 1],
        }
    )
    source: dict[tuple, str] = {}  # (layer, neuron, token) -> why it is plotted; first reason wins
    for l, n, t, why, pn in tops:
        source.setdefault((l, n, t), f"{why} ({pn})")
    for r in ex.head(n_activation_pairs).itertuples():
        source.setdefault(
            (int(r.layer), int(r.neuron), int(r.token_id)), f"exclusive pair {r.rank}"
        )
    act = activation_vs_prediction(ix, windows, list(source), n_bins=n_bins, batch_size=batch_size)
    if len(act):
        act["source"] = [source[(l, n, t)] for l, n, t in zip(act.layer, act.neuron, act.token_id)]
        act["token"] = _tok(tokenizer, act.token_id)
    tables["activation"] = act
    for t in tables.values():
        t.insert(0, "step", int(step))
    return tables


TABLES = (
    "summary",
    "lens",
    "layer_patch",
    "neuron_patch",
    "top_neuron",
    "outliers",
    "exclusive",
    "target_congruence",
    "activation",
)


def sample_windows(windows: list[np.ndarray], n_windows: int | None, seed: int) -> list[np.ndarray]:
    """The ``n_windows`` evaluation windows (all if None or fewer) of the activation-vs-prediction table."""
    if n_windows is None or len(windows) <= n_windows:
        return list(windows)
    take = np.sort(np.random.default_rng(seed).choice(len(windows), size=n_windows, replace=False))
    return [windows[i] for i in take]
