"""Intervals and small fits for the paper's claims: bootstrap means, relative divergence, trajectory fits.

Tokens of one document (or one seed's run) are correlated, so an interval that resamples tokens is
too narrow; every bootstrap here resamples whole clusters. It is vectorised over clusters: per-cluster
sums and counts are built once and each replicate is a vector of multinomial cluster weights, so the
cost is O(n_boot * n_clusters) whatever the number of tokens. The mean of a replicate is the ratio
estimator sum(weights * cluster_sums) / sum(weights * cluster_counts), i.e. the mean of the pooled
resampled tokens, which is what a token-level mean means when documents differ in length.
NaN values mark tokens without a value (e.g. no previous step) and are dropped before anything else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmdyn.core.errors import UserError

# Cap on the weights matrix built at once (entries), so memory stays flat for many clusters.
_CHUNK = 4_000_000


def _check(n_boot: int, ci: float) -> None:
    if int(n_boot) < 1:
        raise UserError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < ci < 1:
        raise UserError(f"ci must be in (0, 1), got {ci}")


def _codes(clusters, n: int) -> np.ndarray:
    """Integer cluster codes 0..k-1 for any label type (ints, strings); items are their own clusters if None."""
    if clusters is None:
        return np.arange(n)
    clusters = np.asarray(clusters)
    if len(clusters) != n:
        raise UserError(f"clusters has length {len(clusters)}, values has {n}")
    codes, _ = pd.factorize(clusters)
    if (codes < 0).any():
        raise UserError("clusters contains missing labels")
    return codes


def _boot_sums(rng: np.random.Generator, per_cluster: np.ndarray, n_boot: int) -> np.ndarray:
    """[n_boot, m] resampled totals of the [k, m] per-cluster columns: k clusters drawn with replacement.

    Each replicate's multinomial counts come from a bincount of k integer draws (row offset so one
    bincount fills a whole chunk of rows); the totals are then one matrix product per chunk.
    """
    k = per_cluster.shape[0]
    rows = max(1, _CHUNK // k)
    out = []
    for start in range(0, n_boot, rows):
        r = min(rows, n_boot - start)
        draws = rng.integers(0, k, size=(r, k)) + (np.arange(r) * k)[:, None]
        w = np.bincount(draws.ravel(), minlength=r * k).reshape(r, k).astype(np.float64)
        out.append(w @ per_cluster)
    return np.vstack(out)


def _interval(boot: np.ndarray, ci: float) -> tuple[float, float]:
    """Percentile interval over the finite replicates (a replicate can lack a subgroup entirely)."""
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return float("nan"), float("nan")
    a = (1 - ci) / 2
    lo, hi = np.quantile(boot, [a, 1 - a])
    return float(lo), float(hi)


def bootstrap_mean(values, clusters=None, n_boot: int = 1000, ci: float = 0.95, seed=0) -> dict:
    """Mean of `values` with a percentile bootstrap interval.

    With `clusters` (labels such as doc_id or seed, same length) whole clusters are resampled with
    replacement and the replicate mean is the pooled token mean (ratio estimator); without, items are
    resampled. A single cluster (or item) cannot be bootstrapped: its bounds are NaN.
    Returns dict(mean, ci_low, ci_high, n, n_clusters, method); n_clusters = n for the item bootstrap.
    """
    _check(n_boot, ci)
    values = np.asarray(values, dtype=np.float64)
    codes = _codes(clusters, len(values))
    keep = ~np.isnan(values)
    values, codes = values[keep], codes[keep]
    if values.size == 0:
        raise UserError("bootstrap_mean: no non-NaN values")
    codes = pd.factorize(codes)[0]  # renumber: clusters may have lost all their values to NaN
    k = int(codes.max()) + 1
    method = "bootstrap" if clusters is None else f"cluster bootstrap over {k} clusters"
    res = dict(
        mean=float(values.mean()),
        ci_low=float("nan"),
        ci_high=float("nan"),
        n=int(values.size),
        n_clusters=k,
        method=method,
    )
    if k < 2:
        return res
    per = np.column_stack(
        [np.bincount(codes, weights=values, minlength=k), np.bincount(codes, minlength=k)]
    )
    tot = _boot_sums(np.random.default_rng(seed), per, int(n_boot))
    res["ci_low"], res["ci_high"] = _interval(tot[:, 0] / tot[:, 1], ci)
    return res


def grouped_bootstrap(
    df: pd.DataFrame,
    value: str,
    by: list[str],
    cluster: str,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed=0,
) -> pd.DataFrame:
    """bootstrap_mean of `value` per group of `by`, clustered on column `cluster`.

    Columns: by + [mean, ci_low, ci_high, n, n_clusters], groups in sorted order. Group i uses the
    seed sequence (seed, i), so groups get independent draws and the table is deterministic for a seed.
    """
    by = list(by)
    missing = [c for c in [value, cluster, *by] if c not in df.columns]
    if missing:
        raise UserError(f"grouped_bootstrap: missing columns {missing}")
    cols = ["mean", "ci_low", "ci_high", "n", "n_clusters"]
    rows = []
    for i, (key, g) in enumerate(df.groupby(by, sort=True, observed=True)):
        r = bootstrap_mean(
            g[value].to_numpy(),
            g[cluster].to_numpy(),
            n_boot,
            ci,
            np.random.SeedSequence([seed, i]),
        )
        rows.append([*key, *(r[c] for c in cols)])
    return pd.DataFrame(rows, columns=by + cols)


def sigma_bootstrap(
    values, mask, clusters=None, n_boot: int = 1000, ci: float = 0.95, seed=0
) -> dict:
    """Relative divergence sigma = mean(values[mask]) / mean(values) with a cluster-bootstrap interval.

    Numerator and denominator are recomputed on the same cluster resample, so their (strong, positive)
    correlation narrows the interval as it should. Replicates in which no drawn cluster has a subgroup
    token are undefined and left out of the percentiles. excludes_one: the interval lies wholly on one
    side of 1, i.e. the subgroup diverges more (or less) than the average token.
    Returns dict(sigma, ci_low, ci_high, excludes_one, n, n_sub, n_clusters).
    """
    _check(n_boot, ci)
    values = np.asarray(values, dtype=np.float64)
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != values.shape:
        raise UserError("sigma_bootstrap: mask must be a boolean array shaped like values")
    codes = _codes(clusters, len(values))
    keep = ~np.isnan(values)
    values, mask, codes = values[keep], mask[keep], pd.factorize(codes[keep])[0]
    if not mask.any():
        raise UserError("sigma_bootstrap: subgroup has no non-NaN values")
    k = int(codes.max()) + 1
    sigma = float(values[mask].mean() / values.mean())
    lo = hi = float("nan")
    if k >= 2:
        per = np.column_stack(
            [
                np.bincount(codes, weights=v, minlength=k)
                for v in (values * mask, mask.astype(np.float64), values)
            ]
            + [np.bincount(codes, minlength=k)]
        )
        t = _boot_sums(np.random.default_rng(seed), per, int(n_boot))
        with np.errstate(divide="ignore", invalid="ignore"):
            lo, hi = _interval((t[:, 0] / t[:, 1]) / (t[:, 2] / t[:, 3]), ci)
    return dict(
        sigma=sigma,
        ci_low=lo,
        ci_high=hi,
        excludes_one=bool(lo > 1 or hi < 1),
        n=int(values.size),
        n_sub=int(mask.sum()),
        n_clusters=k,
    )


def fit_trajectory(kl, q, form: str = "difference") -> dict:
    """Cross-entropy fitting: least squares kl_t ~ alpha * q_t + b over the steps of one subgroup.

    form='difference' fits the series as given. form='ratio' fits kl_t/kl_0 ~ alpha * (q_t/q_0) + b,
    with kl_0, q_0 the first (step-0) entries; the step-0 point itself is left out of that fit because
    it is (1, 1) by construction: it carries no information and would pin the line through (1, 1).
    Pairs with a non-finite entry are dropped. Fewer than 2 points or a constant q gives NaN.
    Returns dict(alpha, b, r2, n).
    """
    kl, q = np.asarray(kl, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if kl.shape != q.shape or kl.ndim != 1:
        raise UserError(
            f"fit_trajectory: kl and q must be 1-D of equal length, got {kl.shape} and {q.shape}"
        )
    if form == "ratio":
        if not (np.isfinite(kl[0]) and np.isfinite(q[0]) and kl[0] != 0 and q[0] != 0):
            raise UserError("fit_trajectory: ratio form needs finite, non-zero step-0 values")
        kl, q = kl[1:] / kl[0], q[1:] / q[0]
    elif form != "difference":
        raise UserError(f"fit_trajectory: form must be 'difference' or 'ratio', got {form!r}")
    ok = np.isfinite(kl) & np.isfinite(q)
    y, x = kl[ok], q[ok]
    n = int(y.size)
    if n < 2 or np.ptp(x) == 0:
        return dict(alpha=float("nan"), b=float("nan"), r2=float("nan"), n=n)
    (alpha, b), *_ = np.linalg.lstsq(np.column_stack([x, np.ones(n)]), y, rcond=None)
    ss_res = float(np.sum((y - alpha * x - b) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    return dict(alpha=float(alpha), b=float(b), r2=float(r2), n=n)


CE_FIT_MAX_ALPHA = 10.0  # default of study.ce_fit_max_alpha


def _ols_rows(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares y ~ alpha x + b on every row of [R, S] arrays, non-finite entries left out."""
    ok = np.isfinite(x) & np.isfinite(y)
    n = ok.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = np.where(ok, x, 0.0).sum(1) / n
        ym = np.where(ok, y, 0.0).sum(1) / n
        dx = np.where(ok, x - xm[:, None], 0.0)
        dy = np.where(ok, y - ym[:, None], 0.0)
        alpha = (dx * dy).sum(1) / (dx * dx).sum(1)
    return alpha, ym - alpha * xm


def _degenerate(fit: dict, kl0: float, form: str, max_alpha: float) -> str:
    """Why a cross-entropy fit is no number to report ("" when it is one)."""
    if fit["n"] < 3:
        return f"{fit['n']} steps (a line needs at least 3 to be tested)"
    if not (np.isfinite(fit["alpha"]) and np.isfinite(fit["b"])):
        return "no finite fit (constant cross-entropy)"
    if abs(fit["alpha"]) > max_alpha:
        why = f"abs(alpha) {abs(fit['alpha']):.3g} > {max_alpha:g}"
        return why + (
            f": the ratios divide by a step-0 seed KL of {kl0:.3g}" if form == "ratio" else ""
        )
    return ""


def fit_trajectory_bootstrap(
    kl_sums,
    q_sums,
    counts,
    form: str = "difference",
    n_boot: int = 1000,
    ci: float = 0.95,
    seed=0,
    max_alpha: float = CE_FIT_MAX_ALPHA,
) -> dict:
    """:func:`fit_trajectory` of a subgroup's mean trajectories, with cluster-bootstrap intervals.

    kl_sums, q_sums, counts: [steps, clusters] sums of the seed KL and of the cross-entropy over the
    subgroup's tokens of each cluster (document), and their token counts; steps in order (step 0 first).
    The point fit is that of the pooled means sum / count. A replicate draws the clusters once for
    every step (a document's tokens are the same at every step) and refits. ``degenerate`` says why a
    fit is not reported ("" when it is): fewer than 3 steps, no finite fit, abs(alpha) over
    ``max_alpha``, or fewer than half the replicates defined; then alpha, b and their bounds are NaN.
    Returns dict(alpha, b, r2, n, alpha_low, alpha_high, b_low, b_high, degenerate).
    """
    _check(n_boot, ci)
    kl_sums, q_sums, counts = (np.asarray(a, dtype=np.float64) for a in (kl_sums, q_sums, counts))
    S, k = counts.shape
    with np.errstate(invalid="ignore", divide="ignore"):
        kl, q = kl_sums.sum(1) / counts.sum(1), q_sums.sum(1) / counts.sum(1)
    nan = float("nan")
    out = dict(alpha=nan, b=nan, r2=nan, n=0, alpha_low=nan, alpha_high=nan, b_low=nan, b_high=nan)
    if form == "ratio" and not (np.isfinite(kl[0]) and np.isfinite(q[0]) and kl[0] and q[0]):
        return {**out, "n": S - 1, "degenerate": "ratio form: no finite, non-zero step-0 value"}
    out.update(fit_trajectory(kl, q, form=form))
    out["degenerate"] = _degenerate(out, float(kl[0]), form, max_alpha)
    if not out["degenerate"] and k >= 2:
        per = np.column_stack([kl_sums.T, q_sums.T, counts.T])
        tot = _boot_sums(np.random.default_rng(seed), per, int(n_boot))
        with np.errstate(invalid="ignore", divide="ignore"):
            bkl, bq = tot[:, :S] / tot[:, 2 * S :], tot[:, S : 2 * S] / tot[:, 2 * S :]
            if form == "ratio":
                bkl, bq = bkl[:, 1:] / bkl[:, :1], bq[:, 1:] / bq[:, :1]
        alpha, b = _ols_rows(bq, bkl)
        good = int((np.isfinite(alpha) & np.isfinite(b)).sum())
        if good < n_boot / 2:
            out["degenerate"] = f"bootstrap: {good} of {n_boot} replicates give a fit"
        else:
            out["alpha_low"], out["alpha_high"] = _interval(alpha, ci)
            out["b_low"], out["b_high"] = _interval(b, ci)
    if out["degenerate"]:
        out.update(alpha=nan, b=nan)
    return out


def low_kl_high_dh(kl, dh, kl_quantile: float = 0.1, dh_threshold: float | None = None) -> dict:
    """Is a small cross-entropy difference necessary for low KL? Compare P(high |dH| | low KL) to P(high |dH|).

    Per token pair, dh = H(m1,t1) - H(m2,t2). Low KL: KL <= its kl_quantile quantile; high |dH|:
    |dH| >= dh_threshold (default: median |dH|, so the overall rate is about 1/2). Necessity predicts
    p_high_dh_given_low_kl far below p_high_dh_overall; independence predicts them equal.
    Pairs with a non-finite entry are dropped.
    Returns dict(p_high_dh_given_low_kl, p_high_dh_overall, n_low_kl, kl_cut, dh_cut).
    """
    kl, dh = np.asarray(kl, dtype=np.float64), np.asarray(dh, dtype=np.float64)
    if kl.shape != dh.shape:
        raise UserError(f"low_kl_high_dh: kl and dh differ in shape, {kl.shape} vs {dh.shape}")
    if not 0 < kl_quantile < 1:
        raise UserError(f"kl_quantile must be in (0, 1), got {kl_quantile}")
    ok = np.isfinite(kl) & np.isfinite(dh)
    kl, adh = kl[ok], np.abs(dh[ok])
    if kl.size == 0:
        raise UserError("low_kl_high_dh: no finite pairs")
    kl_cut = float(np.quantile(kl, kl_quantile))
    dh_cut = float(np.median(adh)) if dh_threshold is None else float(dh_threshold)
    low, high = kl <= kl_cut, adh >= dh_cut
    return dict(
        p_high_dh_given_low_kl=float(high[low].mean()),
        p_high_dh_overall=float(high.mean()),
        n_low_kl=int(low.sum()),
        kl_cut=kl_cut,
        dh_cut=dh_cut,
    )
