"""Activation patching: clean values of a component or an MLP neuron patched into the corrupted run.

Results are normalised ``(patched - corrupted) / (clean - corrupted)`` of the logit difference, so 0
is the corrupted run and 1 the clean one. Where clean and corrupted differ by less than ``min_gap``
nats the ratio divides noise by noise: it is left empty (NaN) and the rows say so (``small_gap``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lmdyn.core.errors import UserError
from lmdyn.neurons.prompts import logit_diff

COMPONENTS = ("resid_pre", "attn_out", "mlp_out")


def _hook(component: str, layer: int) -> str:
    return {
        "resid_pre": f"blocks.{layer}.hook_resid_pre",
        "attn_out": f"blocks.{layer}.hook_attn_out",
        "mlp_out": f"blocks.{layer}.hook_mlp_out",
    }[component]


MIN_GAP = 0.5  # nats; the default of neurons.min_gap


def small_gap(clean_ld: float, corrupted_ld: float, min_gap: float = MIN_GAP) -> bool:
    """Is the normalisation undefined: |clean - corrupted| below ``min_gap`` (or not finite)?"""
    den = clean_ld - corrupted_ld
    return not (np.isfinite(den) and abs(den) >= max(min_gap, 1e-6))


def _normalise(patched, clean_ld: float, corrupted_ld: float, min_gap: float = MIN_GAP):
    if small_gap(clean_ld, corrupted_ld, min_gap):
        return np.full(np.shape(patched), np.nan)
    return (np.asarray(patched, dtype=np.float64) - corrupted_ld) / (clean_ld - corrupted_ld)


@torch.no_grad()
def full_patch(
    ix, clean: torch.Tensor, corrupted: torch.Tensor, a: int, b: int, names, min_gap=MIN_GAP
) -> float:
    """Restored fraction when the clean values of ``names`` replace the corrupted ones at every
    position (NaN where the gap is small)."""
    names = list(names)
    clean_logits, cache = ix.run(clean, names=names)
    corr_logits, _ = ix.run(corrupted, names=[])
    patches = {n: (lambda v, src=cache[n]: src.to(v.dtype).expand_as(v).clone()) for n in names}
    logits, _ = ix.run(corrupted, names=[], patches=patches)
    c_ld, k_ld = float(logit_diff(clean_logits, a, b)[0]), float(logit_diff(corr_logits, a, b)[0])
    return float(_normalise([float(logit_diff(logits, a, b)[0])], c_ld, k_ld, min_gap)[0])


@torch.no_grad()
def layer_patching(
    ix,
    clean: torch.Tensor,
    corrupted: torch.Tensor,
    a: int,
    b: int,
    components=COMPONENTS,
    batch: int = 64,
    min_gap: float = MIN_GAP,
) -> pd.DataFrame:
    """Patch the clean value of one component at one (layer, position) into the corrupted run.

    One forward per (component, layer) with the positions stacked in the batch (row i patches
    position i). Columns: component, layer, position, logit_diff, restored, small_gap.
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
    return _with_restored(pd.concat(rows, ignore_index=True), c_ld, k_ld, min_gap)


def _with_restored(out: pd.DataFrame, c_ld: float, k_ld: float, min_gap: float) -> pd.DataFrame:
    out["restored"] = _normalise(out.logit_diff, c_ld, k_ld, min_gap)
    out["small_gap"] = small_gap(c_ld, k_ld, min_gap)
    return out


@torch.no_grad()
def neuron_patching(
    ix,
    clean: torch.Tensor,
    corrupted: torch.Tensor,
    a: int,
    b: int,
    layers,
    batch: int = 256,
    min_gap: float = MIN_GAP,
) -> pd.DataFrame:
    """Set one MLP neuron's post-activation to its clean value at all positions, in the corrupted run.

    Every neuron of ``layers``, neurons stacked in the batch; plus the whole layer patched at once
    (neuron = -1). Columns: layer, neuron, logit_diff, restored, small_gap.
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
    return _with_restored(pd.concat(rows, ignore_index=True), c_ld, k_ld, min_gap)


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
