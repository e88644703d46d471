"""Collinearity of a regression design: variance inflation factors, and whether two factors' fixed
effects are identified together."""

from __future__ import annotations

import numpy as np
import pandas as pd

# As statsmodels' variance_inflation_factor: a perfect duplicate gets 1e15, not inf.
_VIF_R2_MAX = 1.0 - 1e-15


def variance_inflation_factors(exog, chunk_rows: int = 200_000) -> np.ndarray:
    """VIF of every column of a design matrix; NaN for constant columns (the intercept).

    Equal to statsmodels' ``variance_inflation_factor(exog, j)`` for each j (1 / (1 - R^2) of column j
    regressed on all the other columns, centred), but from one
    chunked pass for the k x k correlation matrix instead of k auxiliary regressions on the n x k
    design: a pooled design has ~150 step columns and millions of rows.
    """
    x = np.asarray(exog, dtype=float)
    if x.ndim != 2:
        raise ValueError("exog must be a 2-D design matrix")
    n, k = x.shape
    out = np.full(k, np.nan)
    const = np.ptp(x, axis=0) == 0 if n else np.ones(k, dtype=bool)
    idx = np.flatnonzero(~const)
    if len(idx) == 0:
        return out
    # Centred, as statsmodels (standardize=True): R^2 of a regression with an intercept.
    mean = x[:, idx].mean(axis=0)
    gram = np.zeros((len(idx), len(idx)))
    for start in range(0, n, chunk_rows):
        z = x[start : start + chunk_rows, idx] - mean
        gram += z.T @ z
    out[idx] = _vif_of_gram(gram)
    return out


def vif_from_centred_gram(gram: np.ndarray, const: int) -> np.ndarray:
    """VIFs of a design given only its centred Gram matrix (Z - mean)'(Z - mean), NaN for column
    ``const`` (the intercept): for a design too large to hold (lmdyn.divergence.absorb)."""
    out = np.full(gram.shape[0], np.nan)
    idx = np.flatnonzero(np.arange(gram.shape[0]) != const)
    if len(idx):
        out[idx] = _vif_of_gram(gram[np.ix_(idx, idx)])
    return out


def _vif_of_gram(gram: np.ndarray) -> np.ndarray:
    """VIF of every column from the centred Gram matrix of the non-constant columns."""
    if len(gram) == 1:
        return np.ones(1)
    d = np.sqrt(np.diag(gram))
    corr = gram / np.outer(d, d)
    if np.linalg.cond(corr) < 1e10:
        # R^2_j = 1 - 1 / (R^-1)_jj for the correlation matrix R
        r2 = 1.0 - 1.0 / np.diag(np.linalg.inv(corr))
    else:  # (nearly) singular: one least-squares solve per column on the k x k system, still cheap
        r2 = np.empty(len(gram))
        for j in range(len(gram)):
            o = np.arange(len(gram)) != j
            beta = np.linalg.lstsq(corr[np.ix_(o, o)], corr[o, j], rcond=None)[0]
            r2[j] = corr[j, o] @ beta
    return 1.0 / (1.0 - np.clip(r2, 0.0, _VIF_R2_MAX))


def connected(a: pd.Series, b: pd.Series) -> bool:
    """Whether the bipartite graph with an edge per observed (a, b) pair is connected.

    With fixed effects of both a and b, the a effects are identified only if it is (e.g. models
    inside a phase that share no step: model and step dummies are then collinear).
    """
    pairs = pd.DataFrame({"a": a.to_numpy(), "b": b.to_numpy()}).drop_duplicates()
    adj: dict[tuple, set] = {}
    for x, y in zip(pairs.a, pairs.b):
        adj.setdefault(("a", x), set()).add(("b", y))
        adj.setdefault(("b", y), set()).add(("a", x))
    if not adj:
        return True
    start = next(iter(adj))
    seen, todo = {start}, [start]
    while todo:
        for nb in adj[todo.pop()]:
            if nb not in seen:
                seen.add(nb)
                todo.append(nb)
    return len(seen) == len(adj)
