"""Means per (suite, model, seed, step) and breakdowns by token subgroup with relative divergence.

Every table is read one checkpoint at a time, so memory does not grow with the number of steps.
Cross-seed metrics are per token first: kl_seeds = mean over seed pairs and both directions of
KL(a||b); kl_steps = mean of both directions of KL between a seed's step and its previous grid step.
sigma of a subgroup = subgroup mean / mean over all tokens, for the same seed, step and metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEED_METRICS = ("nll", "entropy", "kl_uniform", "kl_unigram")
GROUPINGS = ("tag", "tag_prev", "freq_bin", "bow", "eow")
KEYS = ["doc_id", "position"]


def _breakdown(df: pd.DataFrame, metrics, features: pd.DataFrame) -> pd.DataFrame:
    """Long table of subgroup means and sigma for the given per-token metric columns, per value of
    ``df``'s seed column: one groupby per grouping for every seed and metric at once (the cost of
    a step is then a few pandas calls, not one per seed, metric and grouping). Each mean is over
    the same rows in the same order as one seed's table alone would give."""
    d = df.merge(features, on=KEYS, how="inner", validate="many_to_one")
    seeds = d.groupby("seed", sort=False)
    overall = {m: seeds[m].agg(lambda v: v.mean()) for m in metrics}  # Series.mean, as before
    rows = []
    for grouping in GROUPINGS:
        g = d.groupby(["seed", grouping], observed=True)
        size, means = g.size(), g[list(metrics)].mean()
        keys = size.index.to_frame(index=False)
        for metric in metrics:
            total = overall[metric].reindex(keys.seed).to_numpy()
            mean = means[metric].to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                sigma = np.where(total != 0, mean / total, np.nan)
            rows.append(
                pd.DataFrame(
                    {
                        "metric": metric,
                        "grouping": grouping,
                        "group": keys[grouping].astype(str).to_numpy(),
                        "n_tokens": size.to_numpy().astype("int64"),
                        "mean": mean,
                        "sigma": sigma,
                        "seed": keys.seed.to_numpy(),
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
    both = pd.concat(
        [
            pd.DataFrame({"seed": pairs.seed_a, "kl": sym}),
            pd.DataFrame({"seed": pairs.seed_b, "kl": sym}),
        ]
    )
    return both.groupby("seed").kl.mean()


class ModelAggregate:
    """Summary and breakdown of one model, fed one step at a time (each table is read once by the
    caller and can be shared with other consumers, e.g. :class:`lmdyn.divergence.study.ModelStudy`)."""

    def __init__(self, suite: str, model: str, features: pd.DataFrame):
        self.suite, self.model, self.features = suite, model, features
        self.summary, self.breakdown = [], []

    def add_step(
        self, step: int, metrics: dict, seed_pairs: pd.DataFrame, step_pairs: pd.DataFrame
    ) -> None:
        """metrics: seed -> per-token table at this step; the model's seed-pair and step-pair tables."""
        by_seed = None
        if len(seed_pairs):
            tok = seed_pair_tokens(seed_pairs).assign(seed=-1)  # over every seed pair
            self.breakdown.append(
                _breakdown(tok, ["kl_seeds"], self.features).assign(seed=pd.NA, step=step)
            )
            by_seed = seed_pair_by_seed(seed_pairs)
        steps = (
            step_pairs.assign(kl_steps=(step_pairs.kl_ab + step_pairs.kl_ba) / 2)
            if len(step_pairs)
            else None
        )
        cols = list(SEED_METRICS) + (["kl_steps"] if steps is not None else [])
        tables = []
        for seed, m in sorted(metrics.items()):
            row = {
                "suite": self.suite,
                "model": self.model,
                "seed": seed,
                "step": step,
                "n_tokens": len(m),
            }
            row.update({k: m[k].mean() for k in SEED_METRICS})
            row["kl_seeds"] = (
                by_seed.get(seed, float("nan")) if by_seed is not None else float("nan")
            )
            if steps is not None:
                st = steps[steps.seed == seed][KEYS + ["kl_steps"]]
                m = m.merge(st, on=KEYS, how="left", validate="one_to_one")
                row["kl_steps"] = m.kl_steps.mean()
            else:
                row["kl_steps"] = float("nan")
            self.summary.append(row)
            tables.append(m[KEYS + cols].assign(seed=seed))
        if tables:
            both = pd.concat(tables, ignore_index=True)
            self.breakdown.append(_breakdown(both, cols, self.features).assign(step=step))

    def tables(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        summary = pd.DataFrame(self.summary).sort_values(["seed", "step"]).reset_index(drop=True)
        breakdown = pd.concat(self.breakdown, ignore_index=True).assign(
            suite=self.suite, model=self.model
        )
        breakdown["seed"] = breakdown.seed.astype("Int64")
        # kl_seeds rows are over every seed pair: no seed of their own, marked as such
        breakdown["seeds"] = breakdown.seed.isna().map({True: "mean", False: "one"}).astype(str)
        cols = [
            "suite",
            "model",
            "seed",
            "seeds",
            "step",
            "metric",
            "grouping",
            "group",
            "n_tokens",
            "mean",
            "sigma",
        ]
        return summary, breakdown[cols].sort_values(
            ["metric", "seed", "step", "grouping", "group"]
        ).reset_index(drop=True)


def aggregate_model(
    suite: str,
    model: str,
    features: pd.DataFrame,
    metric_files: dict,
    seed_pair_files: dict,
    step_pair_files: dict,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, breakdown) of one model. ``metric_files[(seed, step)]``, ``*_pair_files[step]``: paths."""
    agg = ModelAggregate(suite, model, features)
    for step in sorted({st for _, st in metric_files}):
        metrics = {seed: pd.read_parquet(p) for (seed, st), p in metric_files.items() if st == step}
        empty = pd.DataFrame(columns=KEYS)
        seeds = pd.read_parquet(seed_pair_files[step]) if step in seed_pair_files else empty
        steps = pd.read_parquet(step_pair_files[step]) if step in step_pair_files else empty
        agg.add_step(step, metrics, seeds, steps)
    return agg.tables()
