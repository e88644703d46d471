"""Each family's key curves per run, from its suite tables, in one long frame (the rows of
``study.timeline_curves``): the curves the timeline's events are read from."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

COLUMNS = ["model", "seed", "step", "family", "curve", "value"]
# Curves whose events are defined on a log scale (scaled on it too).
LOG_CURVES = {"kl_u_probe"}


def _long(df: pd.DataFrame, family: str, curves: Mapping[str, str]) -> pd.DataFrame:
    """Columns (table column -> curve name) of a per-run table as long rows."""
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    out = df.melt(["model", "seed", "step"], list(curves), var_name="curve", value_name="value")
    out["curve"] = out["curve"].map(curves)
    return out.assign(family=family)[COLUMNS]


def divergence(t: Mapping) -> pd.DataFrame:
    names = ("kl_uniform", "kl_unigram", "nll", "kl_seeds")
    return _long(t["summary"], "divergence", {n: n for n in names})


def probe(t: Mapping) -> pd.DataFrame:
    return _long(t["probe"], "probe", {"kl_u_probe": "kl_u_probe"})


def anisotropy(t: Mapping) -> pd.DataFrame:
    raw = t["anisotropy"]
    raw = raw[raw.variant == "raw"]
    parts = [
        _long(g, "anisotropy", {"mean_cos": f"mean_cos_{m}"}) for m, g in raw.groupby("matrix")
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


def geometry(t: Mapping) -> pd.DataFrame:
    """The raw classifier on the document split, with every window's tokens (the largest L)."""
    acc = t["accuracy"]
    raw = acc[(acc.variant == "raw") & (acc.split == "document")]
    raw = raw[raw.n_tokens == raw.n_tokens.max()] if len(raw) else raw
    return _long(raw, "geometry", {"accuracy": "accuracy"})


def neurons(t: Mapping) -> pd.DataFrame:
    """The last step's top neuron of each run (first prompt): its congruence with target a and
    its restored fraction (NaN where the patching leaves it undefined) at every step."""
    top, patch, cong = t["top_neuron"], t["neuron_patch"], t["target_congruence"]
    if top.empty:
        return pd.DataFrame(columns=COLUMNS)
    prompt = top.prompt.iloc[0]
    top = top[top.prompt == prompt]
    last = top.loc[
        top.groupby(["model", "seed"]).step.idxmax(), ["model", "seed", "layer", "neuron"]
    ]
    keys = ["model", "seed", "layer", "neuron"]
    c = cong.merge(last, on=keys)[["model", "seed", "step", "congruence_a"]]
    p = patch[patch.prompt == prompt].merge(last, on=keys)[["model", "seed", "step", "restored"]]
    both = c.merge(p, on=["model", "seed", "step"], how="left")
    return _long(both, "neurons", {"congruence_a": "congruence", "restored": "restored"})


FAMILIES = {
    "divergence": divergence,
    "probe": probe,
    "anisotropy": anisotropy,
    "geometry": geometry,
    "neurons": neurons,
}


def scaled(curves: pd.DataFrame) -> pd.Series:
    """Each run's curve mapped to [0, 1] (minimum to 0, maximum to 1; a flat curve to 0), on a
    log scale for LOG_CURVES."""
    v = curves["value"].astype(float)
    log = curves["curve"].isin(LOG_CURVES)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = v.where(~log, np.log(v.where(v > 0)))
    g = v.groupby([curves.model, curves.seed, curves.curve])
    lo, hi = g.transform("min"), g.transform("max")
    span = (hi - lo).where(hi > lo)
    return ((v - lo) / span).where(span.notna() | v.isna(), 0.0)


def key_curves(tables: Mapping, families) -> pd.DataFrame:
    """Every enabled family's key curves per run (long rows, sorted; ``scaled`` added)."""
    parts = [p for p in (FAMILIES[f](tables) for f in families) if len(p)]
    if not parts:
        return pd.DataFrame(columns=[*COLUMNS, "scaled"])
    out = pd.concat(parts, ignore_index=True)
    out["value"] = out["value"].astype(float)
    out["seed"] = out["seed"].astype(int)
    out["step"] = out["step"].astype(int)
    order = {  # models in the suite's order, families in the study's
        "model": {m: i for i, m in enumerate(dict.fromkeys(tables["summary"].model))},
        "family": {f: i for i, f in enumerate(FAMILIES)},
    }
    out = out.sort_values(
        ["model", "seed", "family", "curve", "step"],
        key=lambda c: c.map(order[c.name]) if c.name in order else c,
        kind="stable",
    ).reset_index(drop=True)
    out["scaled"] = scaled(out)
    return out


def absent_notes(tables: Mapping, families) -> dict:
    """{(model, seed, curve): why} for curves a run cannot have: W_U where it is tied to W_E."""
    if "anisotropy" not in families or tables["anisotropy"].empty:
        return {}
    a = tables["anisotropy"]
    tied = a[a.tied].drop_duplicates(["model", "seed"])
    return {
        (m, int(s), "mean_cos_W_U"): "W_U is tied to W_E" for m, s in zip(tied.model, tied.seed)
    }
