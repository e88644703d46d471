"""The convergence/divergence study of one model size, from its per-token tables.

Every mean carries a 95% percentile interval from a cluster bootstrap over evaluation documents
(tokens of one document are correlated). Cross-seed values are averaged over seeds per token first,
so an interval describes the uncertainty from the choice of documents for the seed-averaged curve;
the spread across seeds is reported beside it (seed_min, seed_max).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmdyn.core.stats import (
    CE_FIT_MAX_ALPHA,
    bootstrap_mean,
    fit_trajectory_bootstrap,
    low_kl_high_dh,
    sigma_bootstrap,
)
from lmdyn.divergence.aggregate import KEYS

SEED_METRICS = ("nll", "entropy", "kl_uniform", "kl_unigram")
NOUNS = {"NN", "NNS", "NNP", "NNPS"}
SIGMA_COLUMNS = [
    "step",
    "metric",
    "grouping",
    "group",
    "n_tokens",
    "sigma",
    "ci_low",
    "ci_high",
    "excludes_one",
]


def word_class(tag: pd.Series) -> pd.Series:
    """noun (NN*), VBG and VBN on their own, verb (other VB*), other."""
    t = tag.astype(str)
    out = np.where(
        t.isin(NOUNS),
        "noun",
        np.where(t.isin(["VBG", "VBN"]), t, np.where(t.str.startswith("VB"), "verb", "other")),
    )
    return pd.Series(out, index=tag.index)


def _ci(values, clusters, n_boot, seed) -> dict:
    r = bootstrap_mean(values, clusters, n_boot=n_boot, seed=seed)
    return {"mean": r["mean"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n_tokens": r["n"]}


class ModelStudy:
    """Loads one model's tables step by step and produces the study tables (all long format)."""

    def __init__(
        self,
        features: pd.DataFrame,
        n_boot: int = 1000,
        seed: int = 0,
        max_alpha: float = CE_FIT_MAX_ALPHA,
    ):
        self.f = features.copy()
        self.f["class"] = word_class(self.f.tag)
        self.f["class_prev"] = word_class(self.f.tag_prev)
        self.n_boot, self.seed, self.max_alpha = n_boot, seed, max_alpha
        self.curves, self.groups, self.sigma, self.dh = [], [], [], []
        self.traj = []  # per step: subgroup means of kl_seeds and nll, for cross-entropy fitting
        self.traj_docs = []  # the same as per-document sums, for the fits' intervals

    def _frame(self, df: pd.DataFrame) -> pd.DataFrame:
        return self.f.merge(df, on=KEYS, how="inner", validate="one_to_one")

    def add_step(
        self, step: int, metrics: dict, seed_pairs: pd.DataFrame, step_pairs: pd.DataFrame
    ) -> None:
        """metrics: seed -> per-token table of that seed at this step."""
        seeds = sorted(metrics)
        per_seed = pd.concat([m.assign(seed=s) for s, m in metrics.items()])
        avg = per_seed.groupby(KEYS, as_index=False)[list(SEED_METRICS)].mean()
        d = self._frame(avg)
        docs = d.doc_id.to_numpy()
        for metric in SEED_METRICS:
            means = [metrics[s][metric].mean() for s in seeds]
            self._curve(
                step, metric, d[metric].to_numpy(), docs, min(means), max(means), len(seeds)
            )
        if len(seed_pairs):
            self._add_seed_pairs(step, metrics, seed_pairs, avg)
        if len(step_pairs):
            self._add_step_pairs(step, step_pairs)

    def _curve(self, step, metric, values, docs, seed_min, seed_max, n_seeds) -> None:
        self.curves.append(
            {
                "step": step,
                "metric": metric,
                **_ci(values, docs, self.n_boot, self.seed),
                "seed_min": seed_min,
                "seed_max": seed_max,
                "n_seeds": n_seeds,
            }
        )

    def _add_seed_pairs(self, step, metrics: dict, seed_pairs: pd.DataFrame, avg) -> None:
        """Cross-seed curves, subgroup tables, sigma and dH of one step."""
        sp = seed_pairs.assign(kl=(seed_pairs.kl_ab + seed_pairs.kl_ba) / 2)
        tok = sp.groupby(KEYS, as_index=False)[["kl_ab", "kl_ba", "kl"]].mean()
        t = self._frame(tok)
        t = t.merge(avg[KEYS + ["nll"]], on=KEYS)
        pair_means = sp.groupby(["seed_a", "seed_b"]).kl.mean()
        for col, name in (("kl_ab", "kl_seeds_ab"), ("kl_ba", "kl_seeds_ba"), ("kl", "kl_seeds")):
            lo, hi = pair_means.min(), pair_means.max()
            self._curve(step, name, t[col].to_numpy(), t.doc_id.to_numpy(), lo, hi, len(metrics))
        self._seed_groups(step, t)
        self._sigma(step, t, "kl", "kl_seeds")
        for grouping in ("tag", "freq_bin", "class"):
            g = t.groupby(grouping, observed=True)[["kl", "nll"]].mean().reset_index()
            g = g.rename(columns={grouping: "group"}).assign(grouping=grouping, step=step)
            self.traj.append(g.assign(group=g.group.astype(str)))
            d = t.groupby([grouping, "doc_id"], observed=True).agg(
                kl=("kl", "sum"), nll=("nll", "sum"), n=("kl", "size")
            )
            d = d.reset_index().rename(columns={grouping: "group"})
            self.traj_docs.append(d.assign(grouping=grouping, step=step, group=d.group.astype(str)))
        self._dh(step, seed_pairs, metrics)

    def _add_step_pairs(self, step, step_pairs: pd.DataFrame) -> None:
        """The curve and sigma of KL between each seed's step and its previous grid step."""
        st = step_pairs.assign(kl=(step_pairs.kl_ab + step_pairs.kl_ba) / 2)
        tok = self._frame(st.groupby(KEYS, as_index=False).kl.mean())
        per = st.groupby("seed").kl.mean()
        kl, docs = tok.kl.to_numpy(), tok.doc_id.to_numpy()
        self._curve(step, "kl_steps", kl, docs, per.min(), per.max(), len(per))
        self._sigma(step, tok, "kl", "kl_steps")

    def _seed_groups(self, step, t):
        for grouping in ("freq_bin", "class", "class_prev"):
            for group, g in t.groupby(grouping, observed=True):
                for col, direction in (("kl_ab", "ab"), ("kl_ba", "ba"), ("kl", "mean")):
                    self.groups.append(
                        {
                            "step": step,
                            "direction": direction,
                            "grouping": grouping,
                            "group": str(group),
                            **_ci(g[col].to_numpy(), g.doc_id.to_numpy(), self.n_boot, self.seed),
                        }
                    )

    def _sigma(self, step, t, col, metric):
        values, docs = t[col].to_numpy(), t.doc_id.to_numpy()
        for grouping in ("tag", "tag_prev"):
            for group in t[grouping].unique():
                mask = (t[grouping] == group).to_numpy()
                r = sigma_bootstrap(values, mask, docs, n_boot=self.n_boot, seed=self.seed)
                self.sigma.append(
                    {
                        "step": step,
                        "metric": metric,
                        "grouping": grouping,
                        "group": str(group),
                        "n_tokens": int(mask.sum()),
                        "sigma": r["sigma"],
                        "ci_low": r["ci_low"],
                        "ci_high": r["ci_high"],
                        "excludes_one": r["excludes_one"],
                    }
                )

    def _dh(self, step, pairs, metrics):
        """Per token and seed pair: dH = nll(seed a) - nll(seed b) against KL(a||b)."""
        nll = {s: m.set_index(KEYS).nll for s, m in metrics.items()}
        keys = pd.MultiIndex.from_frame(pairs[KEYS])
        dh = np.empty(len(pairs))
        for (a, b), idx in pairs.groupby(["seed_a", "seed_b"]).indices.items():
            k = keys[idx]
            dh[idx] = nll[a].reindex(k).to_numpy() - nll[b].reindex(k).to_numpy()
        kl = np.concatenate([pairs.kl_ab.to_numpy(), pairs.kl_ba.to_numpy()])
        r = low_kl_high_dh(kl, np.concatenate([dh, -dh]))
        self.dh.append(
            {
                "step": step,
                **r,
                "mean_abs_dh": float(np.abs(dh).mean()),
                "corr_abs_dh_kl": float(np.corrcoef(np.abs(np.concatenate([dh, -dh])), kl)[0, 1]),
            }
        )

    def ce_fits(self) -> pd.DataFrame:
        """Per subgroup, seed KL trajectory ~ alpha * cross-entropy trajectory + b, with intervals from
        a bootstrap over evaluation documents (the same draws for every subgroup and form)."""
        if not self.traj_docs:
            return pd.DataFrame(columns=["grouping", "group", "form", "alpha", "b", "r2", "n"])
        docs = pd.concat(self.traj_docs, ignore_index=True)
        rows = []
        for (grouping, group), g in docs.groupby(["grouping", "group"]):
            wide = g.pivot_table(
                index="step",
                columns="doc_id",
                values=["kl", "nll", "n"],
                aggfunc="sum",
                fill_value=0,
            ).sort_index()
            wide = wide[wide["n"].sum(axis=1) > 0]  # steps where the subgroup has tokens
            for form in ("difference", "ratio"):
                r = fit_trajectory_bootstrap(
                    wide["kl"].to_numpy(),
                    wide["nll"].to_numpy(),
                    wide["n"].to_numpy(),
                    form=form,
                    n_boot=self.n_boot,
                    seed=self.seed,
                    max_alpha=self.max_alpha,
                )
                rows.append({"grouping": grouping, "group": str(group), "form": form, **r})
        return pd.DataFrame(rows)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The model's study tables (columns of lmdyn.divergence.tables less suite and model; a
        table without rows, e.g. seed groups with one seed, has no columns)."""
        traj = (
            pd.concat(self.traj, ignore_index=True).rename(columns={"kl": "kl_seeds"})[
                ["step", "grouping", "group", "kl_seeds", "nll"]
            ]
            if self.traj
            else pd.DataFrame()
        )
        return {
            "curves": pd.DataFrame(self.curves),
            "seed_groups": pd.DataFrame(self.groups),
            "sigma": pd.DataFrame(self.sigma, columns=SIGMA_COLUMNS),
            "dh_kl": pd.DataFrame(self.dh),
            "ce_fit": self.ce_fits(),
            "trajectories": traj,
        }


def with_keys(table: pd.DataFrame, spec, suite: str, model: str) -> pd.DataFrame:
    """One of :meth:`ModelStudy.tables` with its suite and model first, as ``spec`` (a table of
    lmdyn.divergence.tables) declares it; without rows, the spec's typed empty table."""
    if table.empty:
        return spec.empty()
    table = table.copy()
    table.insert(0, "model", model)
    table.insert(0, "suite", suite)
    return table


def size_pairs_curve(
    pairs_by_step: dict, features: pd.DataFrame, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Mean KL between model sizes at the same step and seed (both directions), with document intervals."""
    rows = []
    for step, path in sorted(pairs_by_step.items()):
        p = pd.read_parquet(path)
        for (seed_, a, b), g in p.groupby(["seed", "model_a", "model_b"]):
            for col in ("kl_ab", "kl_ba"):
                rows.append(
                    {
                        "seed": seed_,
                        "step": step,
                        "model_a": a,
                        "model_b": b,
                        "direction": col[3:],
                        **_ci(g[col].to_numpy(), g.doc_id.to_numpy(), n_boot, seed),
                    }
                )
    return pd.DataFrame(rows)


def example_words(features: pd.DataFrame, k: int = 5) -> dict:
    """Most frequent words of each tag in the evaluation corpus (for the outlier table)."""
    f = features[features.word.astype(str).str.len() > 0]
    first = f[f.bow]  # count each word occurrence once (its first token)
    out = {}
    for tag, g in first.groupby("tag"):
        out[tag] = ", ".join(g.word.str.lower().value_counts().head(k).index)
    return out
