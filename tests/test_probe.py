"""Unigram latent probe: planted truth, a random control, scipy KL and the original Adam recipe."""

import numpy as np
import pytest
from scipy.special import log_softmax
from scipy.stats import entropy

from lmdyn.probe.compute import (
    adam_reference,
    fit,
    fit_published,
    frequency_deciles,
    kl_both,
    summarise,
)


def zipf_log_u(V, rng):
    counts = np.floor(1e6 / (rng.permutation(V) + 1.0) ** 1.1)
    u = (counts + 0.5) / (counts.sum() + 0.5 * V)
    return np.log(u)


def test_planted_truth_is_recovered(rng):
    V, d = 500, 16
    log_u = zipf_log_u(V, rng)
    W = rng.normal(size=(V, d)) + 0.7 * rng.normal(
        size=d
    )  # a common offset, as trained matrices have
    W[:, 3] = log_u + 4.2  # log u up to a constant lies in the column space
    res = fit(W.astype(np.float32), log_u)
    kl_uq, kl_qu = kl_both(log_u, res["log_p"])
    assert res["converged"] and kl_uq < 1e-6 and kl_qu < 1e-6
    assert res["loss"] < 1e-6


def test_random_unembedding_fits_far_worse(rng):
    V, d = 2000, 8
    log_u = zipf_log_u(V, rng)
    res = fit(rng.normal(size=(V, d)).astype(np.float32) * 0.1, log_u)
    kl_uq, _ = kl_both(log_u, res["log_p"])
    assert res["converged"] and kl_uq > 0.3
    # the fit beats its starting point x0 = 0 (uniform) in its own loss, squared error in log space
    assert res["loss"] < ((log_u + np.log(V)) ** 2).sum()


def test_kl_both_directions_match_scipy(rng):
    log_u = zipf_log_u(300, rng)
    log_q = log_softmax(rng.normal(size=300) * 2)
    kl_uq, kl_qu = kl_both(log_u, log_q)
    assert kl_uq == pytest.approx(entropy(np.exp(log_u), np.exp(log_q)), rel=1e-10)
    assert kl_qu == pytest.approx(entropy(np.exp(log_q), np.exp(log_u)), rel=1e-10)
    assert kl_uq != pytest.approx(kl_qu, rel=1e-3)


def test_same_minimum_as_a_long_adam_run(rng):
    """The original recipe (Adam, lr 0.01, from x0 = 0, MSE) run to convergence reaches the same loss."""
    V, d = 200, 8
    log_u = zipf_log_u(V, rng)
    W = (
        rng.normal(size=(V, d)) * 0.3
        + 0.5 * rng.normal(size=d)
        + np.outer((log_u - log_u.mean()) / log_u.std(), rng.normal(size=d)) * 0.2
    ).astype(np.float32)
    res = fit(W, log_u)
    _, adam_loss = adam_reference(W, log_u, iterations=20000)
    assert abs(adam_loss - res["loss"]) <= 1e-6 * res["loss"]
    assert res["loss"] <= adam_loss * (1 + 1e-9)


def test_published_recipe_is_pytorch_adam_on_the_mse(rng):
    """The written-out Adam step equals torch.optim.Adam on the autograd MSE (float32 against
    float64), and a long run lands on the Gauss-Newton minimum."""
    V, d = 300, 12
    log_u = zipf_log_u(V, rng)
    W = (rng.normal(size=(V, d)) * 0.3 + 0.5 * rng.normal(size=d)).astype(np.float32)
    x_ref, loss_ref = adam_reference(W, log_u, iterations=150)
    pub = fit_published(W, log_u, iterations=150)
    np.testing.assert_allclose(pub["x"], x_ref, atol=2e-5)
    assert pub["loss"] == pytest.approx(loss_ref, rel=1e-5) and pub["iterations"] == 150
    gn, long = fit(W, log_u), fit_published(W, log_u, iterations=3000)
    assert not pub["converged"] and pub["loss"] > gn["loss"] * 1.01  # still on its way
    assert long["converged"] and long["loss"] == pytest.approx(gn["loss"], rel=1e-7)
    kl_gn, kl_long = kl_both(log_u, gn["log_p"])[0], kl_both(log_u, long["log_p"])[0]
    assert kl_long == pytest.approx(kl_gn, abs=1e-5)


def test_probe_solver_option_keys_the_task():
    from test_targets import default_config

    from lmdyn.core.tasks import task_options

    cfg = default_config()
    # the default's key is the one it had before the option existed
    assert task_options(cfg, "probe", "micro") == {"max_iter": 500, "rtol": 1e-12}
    cfg["probe"]["solver"] = "published"
    got = task_options(cfg, "probe", "micro")
    assert got == {"solver": "published", "adam_lr": 0.01, "adam_iterations": 100000}


def test_deciles_and_summary(rng):
    V = 1000
    log_u = zipf_log_u(V, rng)
    dec = frequency_deciles(log_u)
    assert np.bincount(dec).tolist() == [100] * 10
    assert log_u[dec == 0].max() <= log_u[dec == 9].min()
    # a probe that over-estimates exactly the rarest tenth by 2 nats
    log_p = log_u.copy()
    log_p[dec == 0] += 2.0
    res = {
        "log_p": log_p,
        "loss": float(((log_p - log_u) ** 2).sum()),
        "iterations": 0,
        "converged": True,
        "x": np.zeros(3),
    }
    row, per = summarise(log_u, res)
    assert per.share_over_1nat.tolist() == [1.0] + [0.0] * 9
    assert per.mean_error.iloc[0] == pytest.approx(2.0) and per.mean_error.iloc[1:].abs().max() == 0
    assert row["rmse"] == pytest.approx(np.sqrt(0.1 * 4))
