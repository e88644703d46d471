"""Tests for lmdyn.core.stats against truths planted in data simulated here: interval coverage with a
cluster random effect (and the under-coverage of the naive item bootstrap), planted sigma,
planted trajectory coefficients, and the low-KL / high-|dH| rates."""

import numpy as np
import pandas as pd
import pytest

from lmdyn.core.errors import UserError
from lmdyn.core.stats import (
    bootstrap_mean,
    fit_trajectory,
    fit_trajectory_bootstrap,
    grouped_bootstrap,
    low_kl_high_dh,
    sigma_bootstrap,
)

MU = 2.0


def clustered(rng, k=30, m=20, re_sd=1.0, noise_sd=1.0):
    """k clusters of m tokens: MU + cluster effect + token noise; returns (values, cluster labels)."""
    values = MU + np.repeat(rng.normal(0, re_sd, k), m) + rng.normal(0, noise_sd, k * m)
    return values, np.repeat(np.arange(k), m)


def test_cluster_bootstrap_covers_and_item_bootstrap_does_not():
    rng = np.random.default_rng(0)
    hits_cluster = hits_item = 0
    n_sim = 400
    for i in range(n_sim):
        v, c = clustered(rng)
        a = bootstrap_mean(v, c, n_boot=300, seed=i)
        b = bootstrap_mean(v, n_boot=300, seed=i)
        hits_cluster += a["ci_low"] <= MU <= a["ci_high"]
        hits_item += b["ci_low"] <= MU <= b["ci_high"]
    # Percentile intervals with 30 clusters run slightly short of nominal; naive ones far short
    # (design effect 1 + 19 * 0.5 makes them ~3x too narrow).
    assert 0.90 <= hits_cluster / n_sim <= 0.98
    assert hits_item / n_sim < 0.85


def test_bootstrap_mean_point_estimate_determinism_and_fields():
    rng = np.random.default_rng(1)
    sizes = rng.integers(1, 40, 25)  # unequal documents: the mean is the pooled token mean
    labels = np.repeat([f"doc{i}" for i in range(25)], sizes)
    v = rng.gamma(2.0, 1.0, labels.size)
    a = bootstrap_mean(v, labels, n_boot=200, seed=7)
    assert a["mean"] == pytest.approx(np.mean(v), rel=1e-12)
    assert a == bootstrap_mean(v, labels, n_boot=200, seed=7)
    assert a != bootstrap_mean(v, labels, n_boot=200, seed=8)
    assert (
        a["n"] == v.size
        and a["n_clusters"] == 25
        and a["method"] == "cluster bootstrap over 25 clusters"
    )
    assert a["ci_low"] < a["mean"] < a["ci_high"]
    # Labels are only labels: integer codes give the same draws.
    codes = pd.factorize(labels)[0]
    assert bootstrap_mean(v, codes, n_boot=200, seed=7)["ci_low"] == a["ci_low"]
    b = bootstrap_mean(v, n_boot=200, seed=7)
    assert b["method"] == "bootstrap" and b["mean"] == a["mean"] and b["n_clusters"] == v.size


def test_bootstrap_mean_width_matches_cluster_standard_error():
    """Equal cluster sizes: the bootstrap SE of the mean is sd(cluster means) * sqrt((k-1)/k) / sqrt(k)."""
    rng = np.random.default_rng(2)
    v, c = clustered(rng, k=50, m=10)
    r = bootstrap_mean(v, c, n_boot=4000, seed=0)
    means = v.reshape(50, 10).mean(axis=1)
    se = means.std(ddof=0) / np.sqrt(50)
    assert (r["ci_high"] - r["ci_low"]) / (2 * 1.96 * se) == pytest.approx(1.0, abs=0.08)


def test_bootstrap_mean_edge_cases():
    one = bootstrap_mean([1.0, 2.0, 3.0], [5, 5, 5])
    assert (
        one["mean"] == 2.0
        and np.isnan(one["ci_low"])
        and np.isnan(one["ci_high"])
        and one["n_clusters"] == 1
    )
    nan = bootstrap_mean([1.0, np.nan, 3.0, 4.0], [0, 1, 1, 2], n_boot=50)
    assert nan["mean"] == pytest.approx(8 / 3) and nan["n"] == 3 and nan["n_clusters"] == 3
    with pytest.raises(UserError):
        bootstrap_mean([1.0, 2.0], [0])
    with pytest.raises(UserError):
        bootstrap_mean([np.nan])
    with pytest.raises(UserError):
        bootstrap_mean([1.0, 2.0], ci=95)


def test_grouped_bootstrap():
    rng = np.random.default_rng(3)
    rows = []
    for model, shift in (("s", 0.0), ("m", 1.0)):
        for step in (0, 100):
            v, c = clustered(rng, k=12, m=8)
            rows.append(pd.DataFrame({"model": model, "step": step, "doc_id": c, "kl": v + shift}))
    rows.append(
        pd.DataFrame({"model": "l", "step": 0, "doc_id": 0, "kl": [1.0, 2.0]})
    )  # one document
    df = pd.concat(rows, ignore_index=True)
    out = grouped_bootstrap(df, "kl", ["model", "step"], "doc_id", n_boot=200, seed=0)
    assert list(out.columns) == ["model", "step", "mean", "ci_low", "ci_high", "n", "n_clusters"]
    expect = df.groupby(["model", "step"]).agg(
        mean=("kl", "mean"), n=("kl", "size"), k=("doc_id", "nunique")
    )
    got = out.set_index(["model", "step"]).loc[expect.index]
    np.testing.assert_allclose(got["mean"], expect["mean"])
    assert (got["n"].to_numpy() == expect["n"].to_numpy()).all()
    assert (got["n_clusters"].to_numpy() == expect["k"].to_numpy()).all()
    assert (
        np.isnan(got.loc[("l", 0), "ci_low"])
        and (got.drop(("l", 0))["ci_low"] < got.drop(("l", 0))["mean"]).all()
    )
    pd.testing.assert_frame_equal(
        out, grouped_bootstrap(df, "kl", ["model", "step"], "doc_id", n_boot=200, seed=0)
    )
    with pytest.raises(UserError):
        grouped_bootstrap(df, "nll", ["model"], "doc_id")


def positive_clustered(rng, k=30, m=20):
    """Positive, KL-like tokens: document-level multiplicative effect times gamma noise."""
    return np.repeat(rng.lognormal(0, 0.4, k), m) * rng.gamma(2.0, 0.5, k * m), np.repeat(
        np.arange(k), m
    )


def test_sigma_bootstrap_planted_two():
    rng = np.random.default_rng(4)
    v, c = positive_clustered(rng, k=40, m=20)
    # A quarter of each document's tokens form the subgroup with 3x the mean of the rest:
    # sigma = 3 / (0.25 * 3 + 0.75 * 1) = 2.
    mask = np.tile(np.arange(20) < 5, 40)
    v = np.where(mask, 3 * v, v)
    r = sigma_bootstrap(v, mask, c, n_boot=500, seed=0)
    assert r["sigma"] == pytest.approx(v[mask].mean() / v.mean())
    assert r["sigma"] == pytest.approx(2.0, abs=0.15)
    assert r["excludes_one"] and r["ci_low"] > 1 and r["ci_low"] <= 2.0 <= r["ci_high"]
    assert r["n_sub"] == 200 and r["n_clusters"] == 40


def test_sigma_bootstrap_null_covers_one():
    rng = np.random.default_rng(5)
    covers = 0
    for i in range(100):
        v, c = positive_clustered(rng)
        mask = rng.random(v.size) < 0.3  # subgroup drawn independently of the values
        r = sigma_bootstrap(v, mask, c, n_boot=300, seed=i)
        covers += r["ci_low"] <= 1 <= r["ci_high"]
        assert r["excludes_one"] == (not r["ci_low"] <= 1 <= r["ci_high"])
    assert covers >= 85


def test_sigma_bootstrap_input_checks():
    with pytest.raises(UserError):
        sigma_bootstrap([1.0, 2.0], [1, 0], [0, 1])  # mask not boolean
    with pytest.raises(UserError):
        sigma_bootstrap([1.0, 2.0], np.array([False, False]), [0, 1])


STEPS = np.arange(120)
Q = (
    3.0 + 5.0 * np.exp(-STEPS / 15) + 0.3 * np.exp(-(((STEPS - 60) / 10) ** 2))
)  # decay plus a late bump


def test_fit_trajectory_difference_form():
    rng = np.random.default_rng(6)
    kl = 0.7 * Q + 0.2 + rng.normal(0, 0.02, Q.size)
    r = fit_trajectory(kl, Q)
    assert r["alpha"] == pytest.approx(0.7, abs=0.01) and r["b"] == pytest.approx(0.2, abs=0.04)
    assert r["r2"] > 0.99 and r["n"] == Q.size
    noisy = fit_trajectory(0.7 * Q + 0.2 + rng.normal(0, 1.0, Q.size), Q)
    assert noisy["r2"] < 0.9


def test_fit_trajectory_ratio_form():
    rng = np.random.default_rng(7)
    kl0 = 4.0
    kl = np.concatenate(
        [[kl0], kl0 * (0.7 * Q[1:] / Q[0] + 0.2 + rng.normal(0, 0.003, Q.size - 1))]
    )
    r = fit_trajectory(kl, Q, form="ratio")
    assert r["alpha"] == pytest.approx(0.7, abs=0.01) and r["b"] == pytest.approx(0.2, abs=0.01)
    assert r["r2"] > 0.99 and r["n"] == Q.size - 1
    # The same series in difference form: alpha = kl0 * 0.7 / q0, b = kl0 * 0.2.
    d = fit_trajectory(kl, Q)
    assert d["alpha"] == pytest.approx(kl0 * 0.7 / Q[0], abs=0.02) and d["b"] == pytest.approx(
        kl0 * 0.2, abs=0.05
    )


def test_fit_trajectory_degenerate():
    assert np.isnan(fit_trajectory([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])["alpha"])
    r = fit_trajectory([1.0, np.nan, 3.0, 5.0], [0.0, 1.0, 1.0, 2.0])
    assert r["n"] == 3 and r["alpha"] == pytest.approx(2.0) and r["b"] == pytest.approx(1.0)
    with pytest.raises(UserError):
        fit_trajectory([1.0, 2.0], [1.0, 2.0], form="log")
    with pytest.raises(UserError):
        fit_trajectory([0.0, 2.0, 3.0], [1.0, 2.0, 3.0], form="ratio")


def test_low_kl_high_dh():
    rng = np.random.default_rng(8)
    dh = rng.normal(0, 1, 20000)
    dep = low_kl_high_dh(np.abs(dh) + np.abs(rng.normal(0, 0.01, dh.size)), dh)
    assert dep["p_high_dh_given_low_kl"] < 0.01
    assert dep["p_high_dh_overall"] == pytest.approx(0.5, abs=0.01)
    assert dep["n_low_kl"] == pytest.approx(2000, abs=2)
    assert dep["dh_cut"] == pytest.approx(np.median(np.abs(dh)))
    ind = low_kl_high_dh(rng.exponential(1.0, dh.size), dh)
    assert ind["p_high_dh_given_low_kl"] == pytest.approx(ind["p_high_dh_overall"], abs=0.05)
    fixed = low_kl_high_dh(rng.exponential(1.0, dh.size), dh, dh_threshold=2.0)
    assert fixed["dh_cut"] == 2.0 and fixed["p_high_dh_overall"] == pytest.approx(
        np.mean(np.abs(dh) >= 2.0)
    )
    with pytest.raises(UserError):
        low_kl_high_dh([1.0, 2.0], [1.0])


def doc_trajectories(rng, n_docs=25, steps=10, alpha=-0.2, b=1.6):
    """Per-document sums [steps, docs] of a seed-KL and a cross-entropy trajectory on a planted line,
    with a document effect (the reason to resample documents) and unequal document lengths."""
    counts = np.repeat(rng.integers(5, 60, (1, n_docs)), steps, axis=0).astype(float)
    q = np.linspace(7.6, 4.0, steps)[:, None] + rng.normal(0, 0.3, (1, n_docs))
    kl = alpha * q + b + rng.normal(0, 0.05, (steps, n_docs)) + rng.normal(0, 0.05, (1, n_docs))
    return kl * counts, q * counts, counts


@pytest.mark.parametrize("form", ["difference", "ratio"])
def test_ce_fit_bootstrap_point_is_the_least_squares_line(form):
    from scipy.optimize import curve_fit

    kl_s, q_s, n = doc_trajectories(np.random.default_rng(11))
    r = fit_trajectory_bootstrap(kl_s, q_s, n, form=form, n_boot=200, max_alpha=100)
    kl, q = kl_s.sum(1) / n.sum(1), q_s.sum(1) / n.sum(1)  # pooled token means per step
    if form == "ratio":
        kl, q = kl[1:] / kl[0], q[1:] / q[0]
    (alpha, b), _ = curve_fit(lambda x, a, c: a * x + c, q, kl)
    assert r["degenerate"] == ""
    assert r["alpha"] == pytest.approx(alpha, rel=1e-6) and r["b"] == pytest.approx(b, rel=1e-6)
    assert r["alpha_low"] < r["alpha"] < r["alpha_high"] and r["b_low"] < r["b"] < r["b_high"]
    assert r["n"] == len(q)


def test_ce_fit_bootstrap_interval_matches_a_plain_document_bootstrap():
    """Same interval (to Monte Carlo error) as a loop that redraws documents and refits."""
    rng = np.random.default_rng(12)
    kl_s, q_s, n = doc_trajectories(rng)
    r = fit_trajectory_bootstrap(kl_s, q_s, n, n_boot=3000, seed=5)
    assert r == fit_trajectory_bootstrap(kl_s, q_s, n, n_boot=3000, seed=5)  # a fixed seed
    assert r != fit_trajectory_bootstrap(kl_s, q_s, n, n_boot=3000, seed=6)
    loop = np.random.default_rng(99)
    alphas, bs = [], []
    for _ in range(3000):
        d = loop.integers(0, n.shape[1], n.shape[1])
        kl, q = kl_s[:, d].sum(1) / n[:, d].sum(1), q_s[:, d].sum(1) / n[:, d].sum(1)
        a, c = np.polyfit(q, kl, 1)
        alphas.append(a)
        bs.append(c)
    for name, v in (("alpha", alphas), ("b", bs)):
        lo, hi = np.quantile(v, [0.025, 0.975])
        tol = 0.1 * (hi - lo)
        assert r[f"{name}_low"] == pytest.approx(lo, abs=tol)
        assert r[f"{name}_high"] == pytest.approx(hi, abs=tol)


def test_ce_fit_bootstrap_flags_degenerate_fits():
    rng = np.random.default_rng(13)
    kl_s, q_s, n = doc_trajectories(rng)
    flat = fit_trajectory_bootstrap(kl_s, 5.0 * n, n, n_boot=50)  # constant cross-entropy
    assert flat["degenerate"].startswith("no finite fit") and np.isnan(flat["alpha"])
    two = fit_trajectory_bootstrap(kl_s[:2], q_s[:2], n[:2], n_boot=50)
    assert two["degenerate"].startswith("2 steps") and np.isnan(two["b"])
    # ratio form with a step-0 seed KL near zero: the ratios (and the slope) blow up
    tiny = kl_s.copy()
    tiny[0] = 0.001 * n[0]
    ratio = fit_trajectory_bootstrap(tiny, q_s, n, form="ratio", n_boot=50)
    assert "step-0 seed KL of 0.001" in ratio["degenerate"]
    assert np.isnan(ratio["alpha"]) and np.isnan(ratio["alpha_low"]) and ratio["r2"] > 0.9
    zero = tiny.copy()
    zero[0] = 0.0
    assert "step-0" in fit_trajectory_bootstrap(zero, q_s, n, form="ratio")["degenerate"]
    # one document: the point fit, no interval, not degenerate
    one = fit_trajectory_bootstrap(kl_s[:, :1], q_s[:, :1], n[:, :1], n_boot=50)
    assert one["degenerate"] == "" and np.isfinite(one["alpha"]) and np.isnan(one["alpha_low"])
