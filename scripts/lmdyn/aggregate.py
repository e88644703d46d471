"""Means per (suite, model, seed, step) and breakdowns by token subgroup with relative divergence.

Every table is read one checkpoint at a time, so memory does not grow with the number of steps.
Cross-seed metrics are per token first: kl_seeds = mean over seed pairs and both directions of
KL(a||b); kl_steps = mean of both directions of KL between a seed's step and its previous grid step.
sigma of a subgroup = subgroup mean / mean over all tokens, for the same seed, step and metric.
"""

from __future__ import annotations

import pandas as pd

SEED_METRICS = ("nll", "entropy", "kl_uniform", "kl_unigram")
GROUPINGS = ("tag", "tag_prev", "freq_bin", "bow", "eow")
KEYS = ["doc_id", "position"]


def _breakdown(df: pd.DataFrame, metrics, features: pd.DataFrame) -> pd.DataFrame:
    """Long table of subgroup means and sigma for the given per-token metric columns."""
    d = df.merge(features, on=KEYS, how="inner", validate="one_to_one")
    rows = []
    for metric in metrics:
        overall = d[metric].mean()
        for grouping in GROUPINGS:
            g = d.groupby(grouping, observed=True)[metric].agg(["size", "mean"]).reset_index()
            rows.append(
                pd.DataFrame(
                    {
                        "metric": metric,
                        "grouping": grouping,
                        "group": g[grouping].astype(str),
                        "n_tokens": g["size"].astype("int64"),
                        "mean": g["mean"],
                        "sigma": g["mean"] / overall if overall != 0 else float("nan"),
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def seed_pair_tokens(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per token kl_seeds (all pairs) from a seed-pair table."""
    sym = pairs.assign(kl=(pairs.kl_ab + pairs.kl_ba) / 2)
    return sym.groupby(KEYS, as_index=False).kl.mean().rename(columns={"kl": "kl_seeds"})


def seed_pair_by_seed(pairs: pd.DataFrame) -> pd.Series:
    """Mean over tokens and directions of KL between one seed and each other seed, per seed."""
    sym = (pairs.kl_ab + pairs.kl_ba) / 2
    both = pd.concat([pd.DataFrame({"seed": pairs.seed_a, "kl": sym}), pd.DataFrame({"seed": pairs.seed_b, "kl": sym})])
    return both.groupby("seed").kl.mean()


def aggregate_model(
    suite: str, model: str, features: pd.DataFrame, metric_files: dict, seed_pair_files: dict, step_pair_files: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, breakdown) of one model. ``metric_files[(seed, step)]``, ``*_pair_files[step]``: paths."""
    summary, breakdown = [], []
    seeds_by_step = {}
    steps_by_step = {}
    for step, path in seed_pair_files.items():
        pairs = pd.read_parquet(path)
        if len(pairs):
            tok = seed_pair_tokens(pairs)
            breakdown.append(_breakdown(tok, ["kl_seeds"], features).assign(seed=pd.NA, step=step))
            seeds_by_step[step] = seed_pair_by_seed(pairs)
    for step, path in step_pair_files.items():
        pairs = pd.read_parquet(path)
        if len(pairs):
            steps_by_step[step] = pairs.assign(kl_steps=(pairs.kl_ab + pairs.kl_ba) / 2)
    for (seed, step), path in sorted(metric_files.items()):
        m = pd.read_parquet(path)
        row = {"suite": suite, "model": model, "seed": seed, "step": step, "n_tokens": len(m)}
        row.update({k: m[k].mean() for k in SEED_METRICS})
        row["kl_seeds"] = seeds_by_step[step].get(seed, float("nan")) if step in seeds_by_step else float("nan")
        metrics = list(SEED_METRICS)
        if step in steps_by_step:
            st = steps_by_step[step]
            st = st[st.seed == seed][KEYS + ["kl_steps"]]
            m = m.merge(st, on=KEYS, how="left", validate="one_to_one")
            row["kl_steps"] = m.kl_steps.mean()
            metrics.append("kl_steps")
        else:
            row["kl_steps"] = float("nan")
        summary.append(row)
        breakdown.append(_breakdown(m, metrics, features).assign(seed=seed, step=step))
    summary = pd.DataFrame(summary)
    breakdown = pd.concat(breakdown, ignore_index=True).assign(suite=suite, model=model)
    breakdown["seed"] = breakdown.seed.astype("Int64")
    cols = ["suite", "model", "seed", "step", "metric", "grouping", "group", "n_tokens", "mean", "sigma"]
    return summary, breakdown[cols].sort_values(["metric", "seed", "step", "grouping", "group"]).reset_index(drop=True)
