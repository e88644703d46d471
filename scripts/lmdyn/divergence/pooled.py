"""Pooled and per-phase KL regressions: several checkpoint steps in one fit, with step fixed effects.

:func:`fit_pooled` pools every step but 0 and :func:`fit_by_phase` the steps within each training
phase (uniform, unigram, contextual; :func:`assign_phases` reads them from a phase table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmdyn.core.errors import UserError
from lmdyn.divergence.regression import RegressionResult, fit_kl_regression

PHASES = ("uniform", "unigram", "contextual")
MIN_ROWS_PER_PARAM = 5  # a phase fit with fewer rows per design column is skipped


def sample_positions(keys: pd.DataFrame, n: int | None, seed: int = 0) -> pd.DataFrame | None:
    """``n`` token positions (``doc_id, position``) drawn without replacement with a fixed seed.

    None when ``n`` is None or covers every position (use all). The draw depends only on the set
    of positions (they are sorted first), so every step and model gets the same positions.
    """
    k = keys[["doc_id", "position"]].drop_duplicates().sort_values(["doc_id", "position"])
    if n is None or n >= len(k):
        return None
    if n < 1:
        raise UserError(f"tokens_per_step must be at least 1, got {n}")
    pick = np.sort(np.random.default_rng(seed).choice(len(k), size=n, replace=False))
    return k.iloc[pick].reset_index(drop=True)


def assign_phases(steps: pd.DataFrame, phase_table: pd.DataFrame) -> pd.DataFrame:
    """``steps`` (columns model, step; any other columns kept) with a ``phase`` column added.

    Read from each model's ``seeds == "mean"`` row of the phase table (lmdyn.divergence.phases.phase_table):
    step <= uniform_end -> "uniform"; uniform_end < step < contextual_onset -> "unigram";
    step >= contextual_onset -> "contextual"; without a contextual onset (NaN: not reached)
    everything after uniform_end is "unigram". A missing uniform_end counts as 0 and a contextual
    onset before uniform_end as uniform_end, as in lmdyn.divergence.phases.phase_spans.
    """
    need = ["model", "seeds", "uniform_end", "contextual_onset"]
    missing = [c for c in need if c not in phase_table.columns]
    if missing:
        raise UserError(f"phase table lacks column(s): {', '.join(missing)}")
    mean = phase_table[phase_table["seeds"] == "mean"].copy()
    mean["model"] = mean["model"].astype(str)
    dup = sorted(mean.loc[mean["model"].duplicated(), "model"].unique())
    if dup:
        raise UserError(f"phase table has several seeds='mean' rows for model(s): {', '.join(dup)}")
    models = steps["model"].astype(str)
    absent = sorted(set(models) - set(mean["model"]))
    if absent:
        raise UserError(f"phase table has no seeds='mean' row for model(s): {', '.join(absent)}")
    mean = mean.set_index("model")
    u = pd.to_numeric(mean["uniform_end"], errors="coerce").reindex(models).fillna(0.0).to_numpy()
    c = pd.to_numeric(mean["contextual_onset"], errors="coerce").reindex(models).to_numpy()
    step = pd.to_numeric(steps["step"], errors="raise").to_numpy(dtype=float)
    phase = np.where(
        step <= u, "uniform", np.where(~np.isnan(c) & (step >= c), "contextual", "unigram")
    )
    return steps.assign(phase=phase)


def fit_pooled(df: pd.DataFrame, **kw) -> RegressionResult:
    """One fit over every step but 0 (all models are at initialisation there), step fixed effects."""
    if "step" not in df.columns:
        raise UserError("pooled regression input lacks column 'step'")
    d = df[pd.to_numeric(df["step"]) > 0]
    if d.empty:
        raise UserError("no steps after step 0 to pool")
    return fit_kl_regression(d, step_effects=True, **kw)


def fit_by_phase(
    df: pd.DataFrame, phase_table: pd.DataFrame, min_rows_per_param: int = MIN_ROWS_PER_PARAM, **kw
) -> tuple[dict[str, RegressionResult], pd.DataFrame, list[str]]:
    """One pooled fit per phase (step 0 excluded, as in :func:`fit_pooled`), step fixed effects within it.

    Returns (fits by phase in PHASES order, the (model, step, phase) assignment, notes). A phase is
    skipped, with a note, rather than failing the others when it has no steps, fewer than
    ``min_rows_per_param`` rows per design column, no more clusters than design columns (the
    clustered covariance would be singular), no variance, or fewer rows than parameters.
    """
    d = df[pd.to_numeric(df["step"]) > 0]
    cells = assign_phases(
        d[["model", "step"]].drop_duplicates().sort_values(["model", "step"]), phase_table
    )
    d = d.merge(cells, on=["model", "step"], how="left", validate="many_to_one")
    fits: dict[str, RegressionResult] = {}
    notes: list[str] = []
    for ph in PHASES:
        sub = d[d["phase"] == ph].drop(columns="phase")
        if sub.empty:
            notes.append(f"phase {ph}: no steps after step 0; skipped")
            continue
        try:
            res = fit_kl_regression(sub, step_effects=True, **kw)
        except UserError as e:
            notes.append(f"phase {ph}: skipped ({len(sub)} rows): {e}")
            continue
        dg = res.diagnostics
        if (
            dg["n_obs"] < min_rows_per_param * dg["n_columns"]
            or dg["n_clusters"] <= dg["n_columns"]
        ):
            notes.append(
                f"phase {ph}: skipped: too few rows ({dg['n_obs']}) or clusters ({dg['n_clusters']}) "
                f"for {dg['n_columns']} parameters (need {min_rows_per_param} rows per parameter "
                "and more clusters than parameters)"
            )
            continue
        fits[ph] = res
    return fits, cells.reset_index(drop=True), notes


def phase_assignment_text(cells: pd.DataFrame) -> str:
    """One line per model: the steps of each phase."""
    lines = []
    for model, g in cells.groupby("model", sort=False):
        parts = []
        for ph in PHASES:
            st = g.loc[g["phase"] == ph, "step"].tolist()
            parts.append(f"{ph} {', '.join(map(str, st)) if st else '-'}")
        lines.append(f"  {model}: " + "; ".join(parts))
    return "\n".join(lines)
