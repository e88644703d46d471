"""Unigram latent probe ("GPT2 is unigram-ist", 2024): the latent x whose unembedding best matches log u.

    x* = argmin_x  L(x) = sum_v (log_softmax(W_U x)_v - log u_v)^2,   x0 = 0,

with W_U applied directly (no final norm, no bias), as in the original. The original ran Adam (lr 0.01,
1e5 iterations; :func:`fit_published`, ``probe.solver: published``); by default the same minimum is
reached by Gauss-Newton in float64 with a backtracking line
search: with r(x) = log_softmax(Wx) - log u, the Jacobian is J = (I - 1 p^T) W, so J^T J = W^T W minus
rank-2 terms in a = W^T p and w1 = W^T 1 (w1 = 0 once W's rows are centred, which moves neither
the loss nor x*). W^T W is formed once per checkpoint (V d^2 flops), after
which an iteration costs two [V, d] matrix-vector products and two triangular solves with the Cholesky factor of W^T W (the rank-1 term by
Sherman-Morrison).

Stopping rule: stop when the Gauss-Newton step's predicted decrease is below ``rtol`` times the loss
(and at most ``max_iter`` iterations); a step that the line search cannot make decrease the loss also
ends the fit (the minimum is reached to float64 resolution). ``converged`` says which one happened.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

DECILES = 10


def _state(W: torch.Tensor, x: torch.Tensor, log_u: torch.Tensor):
    z = W @ x
    logp = z - torch.logsumexp(z, 0)
    r = logp - log_u
    return logp, r, float(r @ r)


def fit(W_U, log_u, max_iter: int = 500, rtol: float = 1e-12, threads: int | None = None) -> dict:
    """Fit the probe for one unembedding matrix [V, d] and log-unigram [V].

    Returns x [d] (float64 numpy), loss (sum of squared log-prob errors, nats^2), iterations, converged,
    log_p [V] (the probe's log-probabilities, float64 numpy).
    """
    if threads:
        torch.set_num_threads(threads)
    W = torch.tensor(np.asarray(W_U), dtype=torch.float64)  # a copy: centred in place below
    lu = torch.as_tensor(np.asarray(log_u), dtype=torch.float64)
    V, d = W.shape
    # Centring the rows over tokens changes every logit by the same constant (c . x), so neither the
    # loss nor x* moves; it removes the large common offset that would make W^T W ill-conditioned, and
    # with W^T 1 = 0 the Gauss-Newton matrix becomes W^T W + V a a^T.
    W -= W.mean(0)
    Wf = W.to(torch.float32)
    gram = (Wf.T @ Wf).to(torch.float64)  # only shapes the step; loss and gradient stay float64
    del Wf
    gram += (1e-9 * float(torch.diagonal(gram).mean()) + 1e-300) * torch.eye(d, dtype=torch.float64)
    chol = torch.linalg.cholesky(gram)  # once; each step adds the rank-1 term by Sherman-Morrison

    def solve(b: torch.Tensor) -> torch.Tensor:
        return torch.cholesky_solve(b[:, None], chol)[:, 0]

    x = torch.zeros(d, dtype=torch.float64)
    logp, r, loss = _state(W, x, lu)
    it, converged = 0, False
    while it < max_iter:
        p = logp.exp()
        a = W.T @ p
        s = float(r.sum())
        g = W.T @ r - a * s  # half the gradient: J^T r
        # step = -(W^T W + V a a^T)^-1 g
        gi_g, gi_a = solve(g), solve(a)
        step = -(gi_g - gi_a * (V * float(a @ gi_g) / (1.0 + V * float(a @ gi_a))))
        predicted = -float(g @ step)  # Gauss-Newton model decrease of the loss / 2, >= 0
        if predicted <= rtol * loss:
            converged = True
            break
        t = 1.0
        while t > 1e-10:
            logp_new, r_new, loss_new = _state(W, x + t * step, lu)
            if loss_new < loss:
                break
            t *= 0.5
        else:
            converged = (
                True  # no decrease along a descent direction: at the minimum to float precision
            )
            break
        it += 1
        x = x + t * step
        logp, r, loss = logp_new, r_new, loss_new
    return {
        "x": x.numpy(),
        "loss": loss,
        "iterations": it,
        "converged": converged,
        "log_p": logp.numpy(),
    }


def kl_both(log_u: np.ndarray, log_q: np.ndarray) -> tuple[float, float]:
    """(KL(u || q), KL(q || u)) in nats, from log-probabilities (float64)."""
    log_u, log_q = np.asarray(log_u, np.float64), np.asarray(log_q, np.float64)
    return float(np.sum(np.exp(log_u) * (log_u - log_q))), float(
        np.sum(np.exp(log_q) * (log_q - log_u))
    )


def frequency_deciles(log_u: np.ndarray) -> np.ndarray:
    """Decile of every token by unigram probability (0 = rarest tenth, 9 = most frequent); ties by id."""
    order = np.argsort(np.asarray(log_u), kind="stable")
    dec = np.empty(len(order), dtype=np.int64)
    dec[order] = np.arange(len(order)) * DECILES // len(order)
    return dec


def summarise(log_u: np.ndarray, res: dict) -> tuple[dict, pd.DataFrame]:
    """Per-checkpoint row (KL both ways, loss, rmse, iterations) and the per-decile table."""
    log_u = np.asarray(log_u, np.float64)
    err = res["log_p"] - log_u
    kl_uq, kl_qu = kl_both(log_u, res["log_p"])
    row = {
        "kl_u_probe": kl_uq,
        "kl_probe_u": kl_qu,
        "loss": res["loss"],
        "rmse": float(np.sqrt(res["loss"] / len(log_u))),
        "iterations": res["iterations"],
        "converged": res["converged"],
        "x_norm": float(np.linalg.norm(res["x"])),
    }
    dec = frequency_deciles(log_u)
    tab = pd.DataFrame({"decile": dec, "err": err, "log_u": log_u})
    per = (
        tab.groupby("decile")
        .agg(
            n_tokens=("err", "size"),
            mean_log_u=("log_u", "mean"),
            mean_error=("err", "mean"),
            mean_abs_error=("err", lambda e: float(np.mean(np.abs(e)))),
            share_over_1nat=("err", lambda e: float(np.mean(e > 1.0))),
        )
        .reset_index()
    )
    return row, per


def fit_published(W_U, log_u, iterations: int = 100_000, lr: float = 0.01) -> dict:
    """The published recipe: Adam on the mean squared log-probability error from x0 = 0, for a fixed
    number of iterations, in float32 (the original's PyTorch default) with PyTorch's Adam defaults
    (betas 0.9, 0.999, eps 1e-8). The gradient is written out, so an iteration is two [V, d]
    matrix-vector products and no autograd graph: with r = log_softmax(Wx) - log u and p the softmax,
    d mean(r^2) / dx = (2 / V) W^T (r - p sum(r)).

    Returns the keys of :func:`fit` (loss and log_p recomputed in float64 from x); converged: the
    last 1% of the iterations lowered the loss by at most 1e-9 of it.
    """
    f32 = np.float32
    W = np.ascontiguousarray(W_U, dtype=f32)
    WT = np.ascontiguousarray(W.T)
    lu = np.asarray(log_u, dtype=f32)
    V, d = W.shape
    x, m, v, g, step = (np.zeros(d, f32) for _ in range(5))
    z, p, r = (np.empty(V, f32) for _ in range(3))
    b1, b2, eps = 0.9, 0.999, 1e-8
    late = iterations - max(1, iterations // 100)
    loss_late = float("nan")
    for t in range(1, iterations + 1):
        np.dot(W, x, out=z)
        z -= z.max()
        np.exp(z, out=p)
        total = p.sum()
        z -= np.log(total)  # log p
        p /= total
        np.subtract(z, lu, out=r)
        if t == late + 1:
            loss_late = _loss64(W_U, log_u, x)
        p *= r.sum()
        r -= p
        np.dot(WT, r, out=g)
        g *= 2.0 / V
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        np.divide(v, 1 - b2**t, out=step)
        np.sqrt(step, out=step)
        step += eps
        np.divide(m, step, out=step)
        x -= (lr / (1 - b1**t)) * step
    loss, log_p = _loss64(W_U, log_u, x, with_log_p=True)
    converged = bool(np.isfinite(loss_late) and loss_late - loss <= 1e-9 * loss)
    return {
        "x": x.astype(np.float64),
        "loss": loss,
        "iterations": iterations,
        "converged": converged,
        "log_p": log_p,
    }


def _loss64(W_U, log_u, x, with_log_p: bool = False):
    """The probe's loss (and log-probabilities) at ``x``, in float64."""
    z = np.asarray(W_U, dtype=np.float64) @ np.asarray(x, dtype=np.float64)
    log_p = z - (z.max() + np.log(np.exp(z - z.max()).sum()))
    r = log_p - np.asarray(log_u, dtype=np.float64)
    return (float(r @ r), log_p) if with_log_p else float(r @ r)


def adam_reference(W_U, log_u, iterations: int, lr: float = 0.01) -> tuple[np.ndarray, float]:
    """The original recipe (Adam on the mean squared error from x0 = 0), for tests and comparisons."""
    W = torch.as_tensor(np.asarray(W_U), dtype=torch.float64)
    lu = torch.as_tensor(np.asarray(log_u), dtype=torch.float64)
    x = torch.zeros(W.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(iterations):
        opt.zero_grad()
        loss = ((torch.log_softmax(W @ x, 0) - lu) ** 2).mean()
        loss.backward()
        opt.step()
    x = x.detach()
    r = torch.log_softmax(W @ x, 0) - lu
    return x.numpy(), float(r @ r)


def pca2(E) -> tuple[np.ndarray, np.ndarray]:
    """First two principal components of the rows of E [V, d] (centred over tokens): coordinates
    [V, 2] and the share of variance each explains. Signs fixed so each axis' largest loading is > 0."""
    X = torch.as_tensor(np.asarray(E)).to(torch.float64)
    X = X - X.mean(0)
    evals, evecs = torch.linalg.eigh(X.T @ X)
    top = evecs[:, [-1, -2]]
    top = top * torch.sign(top[top.abs().argmax(0), torch.arange(2)])
    share = (evals[[-1, -2]] / evals.sum().clamp_min(1e-300)).numpy()
    return (X @ top).numpy(), share


def solve(W_U, log_u, options: dict) -> dict:
    """The probe fit with the configured solver (``probe.solver``: the default Gauss-Newton fit or
    the original's Adam recipe), as the workflow's task and ``lmdyn.analyses.probe`` run it."""
    if options.get("solver", "gauss_newton") == "published":
        return fit_published(
            W_U, log_u, iterations=options["adam_iterations"], lr=options["adam_lr"]
        )
    return fit(W_U, log_u, max_iter=options["max_iter"], rtol=options["rtol"])


def token_table(log_u: np.ndarray, res: dict, W_E) -> pd.DataFrame:
    """Per token: log u, log probe, and W_E's first two principal components with their shares."""
    pcs, share = pca2(W_E)
    return pd.DataFrame(
        {
            "token_id": np.arange(len(log_u)),
            "log_u": log_u,
            "log_probe": res["log_p"],
            "pc1": pcs[:, 0],
            "pc2": pcs[:, 1],
            "pc1_share": share[0],
            "pc2_share": share[1],
        }
    )
