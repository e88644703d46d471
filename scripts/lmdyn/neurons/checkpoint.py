"""Every token-neuron table of one checkpoint: per prompt pair, then over the whole model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmdyn.core.errors import UserError
from lmdyn.neurons import TABLES
from lmdyn.neurons.activation import activation_vs_prediction
from lmdyn.neurons.congruence import congruence_scan, exclusive_pairs, neuron_token_congruence
from lmdyn.neurons.lens import logit_lens
from lmdyn.neurons.patching import choose_layers, layer_patching, neuron_patching, small_gap
from lmdyn.neurons.prompts import encode_pair, prompt_summary, target_id
from lmdyn.neurons.tables import RUN_TABLES

PROMPT_TABLES = TABLES[:6]  # one row set per prompt pair; the other three per checkpoint


def _tok(tokenizer, ids) -> list[str]:
    return [tokenizer.decode([int(i)]) for i in ids]


def _top_neuron(ix, tokenizer, prompt: str, npatch, a: int, b: int, center, n_outliers):
    """(top_neuron row, outliers table, (layer, neuron)) of the single neuron that restores most;
    None when no neuron's restored fraction is defined."""
    single = npatch[npatch.neuron >= 0]
    if not single.restored.notna().any():
        return None
    best = single.loc[single.restored.idxmax()]
    l, n = int(best.layer), int(best.neuron)
    cong = neuron_token_congruence(ix, l, n, center=center)
    whole = npatch[(npatch.layer == l) & (npatch.neuron == -1)].restored.iloc[0]
    rank_a = int((cong > cong[a]).sum()) + 1
    top = pd.DataFrame(
        [
            {
                "prompt": prompt,
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
    order = np.argsort(-cong, kind="stable")[:n_outliers]
    outliers = pd.DataFrame(
        {
            "prompt": prompt,
            "layer": l,
            "neuron": n,
            "rank": np.arange(1, len(order) + 1),
            "token_id": order,
            "token": _tok(tokenizer, order),
            "congruence": cong[order],
            "z": (cong[order] - cong.mean()) / max(cong.std(), 1e-12),
        }
    )
    return top, outliers, (l, n)


def _empty(name: str) -> pd.DataFrame:
    """The typed empty table (e.g. no top neuron where none is defined), so runs concatenate cleanly."""
    t = RUN_TABLES[f"neurons_{name}"].empty()
    return t.drop(columns=[c for c in ("model", "seed", "step") if c in t.columns])


def _prompt_tables(ix, tokenizer, p: dict, targets, ab, o: dict):
    """({table: [frames]} of one prompt pair (PROMPT_TABLES), its top patched (layer, neuron) or None)."""
    a, b = ab
    name = p["name"]
    clean, corr = encode_pair(tokenizer, name, p["clean"], p["corrupted"], o["prepend_bos"])
    s = prompt_summary(ix, clean, corr, a, b)
    summary = {"prompt": name, "target_a": targets[0], "target_b": targets[1], **s}
    summary["small_gap"] = small_gap(s["logit_diff_clean"], s["logit_diff_corrupted"], o["min_gap"])
    out = {"summary": [pd.DataFrame([summary])], "lens": []}
    for mode in o["lens_modes"]:
        lens = logit_lens(ix, clean, a, b, mode=mode, model=ix.model)
        lens.insert(0, "prompt", name)
        out["lens"].append(lens)
    lp = layer_patching(ix, clean, corr, a, b, batch=o["batch_size"] * 4, min_gap=o["min_gap"])
    lp["token"] = np.asarray(_tok(tokenizer, clean[0].tolist()))[lp.position]
    lp.insert(0, "prompt", name)
    out["layer_patch"] = [lp]
    layers = choose_layers(lp, ix.n_layers, ix.d_mlp, o["patch_layers"], o["max_patch_neurons"])
    npatch = neuron_patching(
        ix, clean, corr, a, b, layers, batch=o["batch_size"] * 16, min_gap=o["min_gap"]
    )
    npatch.insert(0, "prompt", name)
    out["neuron_patch"] = [npatch]
    top = _top_neuron(ix, tokenizer, name, npatch, a, b, o["center"], o["n_outliers"])
    if top is None:
        return out, None
    out["top_neuron"], out["outliers"] = [top[0]], [top[1]]
    return out, top[2]


def _model_tables(ix, tokenizer, ab, center: bool, vocab_chunk: int, top_pairs: int) -> dict:
    """The exclusive neuron-token pairs and every neuron's congruence with the two targets."""
    scan = congruence_scan(
        ix.W_out, ix.n_layers, ix.W_U, targets=list(ab), center=center, vocab_chunk=vocab_chunk
    )
    ex = exclusive_pairs(scan, top=top_pairs)
    ex.insert(0, "rank", np.arange(1, len(ex) + 1))
    ex["token"] = _tok(tokenizer, ex.token_id)
    flat = np.arange(scan["targets"].shape[0])
    target_congruence = pd.DataFrame(
        {
            "layer": flat // scan["d_mlp"],
            "neuron": flat % scan["d_mlp"],
            "congruence_a": scan["targets"][:, 0],
            "congruence_b": scan["targets"][:, 1],
        }
    )
    return {"exclusive": ex, "target_congruence": target_congruence}


def _activation_table(ix, tokenizer, windows, source: dict, n_bins: int, batch_size: int):
    """Activation against prediction of every (layer, neuron, token) in ``source``, with its reason."""
    act = activation_vs_prediction(ix, windows, list(source), n_bins=n_bins, batch_size=batch_size)
    if len(act):
        act["source"] = [source[(l, n, t)] for l, n, t in zip(act.layer, act.neuron, act.token_id)]
        act["token"] = _tok(tokenizer, act.token_id)
    return act


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
    min_gap: float = 0.5,
) -> dict[str, pd.DataFrame]:
    """Every token-neuron table of one checkpoint (each with a ``step`` column).

    prompts: [{name, clean, corrupted}]; targets: [a, b] (single tokens). The top neuron of a prompt is
    the neuron whose clean value restores the largest fraction of the logit difference; where that
    fraction is undefined (clean and corrupted closer than ``min_gap`` nats) there is none.
    """
    if not prompts or len(targets) != 2:
        raise UserError("neurons: give at least one prompt pair and exactly two target tokens")
    ab = tuple(target_id(tokenizer, prompts[0]["name"], t) for t in targets)
    o = dict(
        prepend_bos=prepend_bos,
        lens_modes=lens_modes,
        batch_size=batch_size,
        patch_layers=patch_layers,
        max_patch_neurons=max_patch_neurons,
        center=center,
        n_outliers=n_outliers,
        min_gap=min_gap,
    )
    out: dict[str, list[pd.DataFrame]] = {k: [] for k in PROMPT_TABLES}
    source: dict[tuple, str] = {}  # (layer, neuron, token) -> why it is plotted; first reason wins
    for p in prompts:
        got, top = _prompt_tables(ix, tokenizer, p, targets, ab, o)
        for k, frames in got.items():
            out[k] += frames
        if top is not None:
            source.setdefault((*top, ab[0]), f"top patched neuron ({p['name']})")
    tables = {k: pd.concat(v, ignore_index=True) if v else _empty(k) for k, v in out.items()}
    tables.update(_model_tables(ix, tokenizer, ab, center, vocab_chunk, top_pairs))
    for r in tables["exclusive"].head(n_activation_pairs).itertuples():
        source.setdefault(
            (int(r.layer), int(r.neuron), int(r.token_id)), f"exclusive pair {r.rank}"
        )
    tables["activation"] = _activation_table(ix, tokenizer, windows, source, n_bins, batch_size)
    for t in tables.values():
        t.insert(0, "step", int(step))
    return tables
