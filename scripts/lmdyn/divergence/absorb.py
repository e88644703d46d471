"""The pooled regression with its step fixed effects absorbed (Frisch-Waugh-Lovell).

The dummy-variable fit ``y ~ X + C(step)`` holds a design of rows x (columns + steps) cells, and
statsmodels copies it a few times over (pseudo-inverse, scores): its memory grows as rows x steps,
i.e. steps^2 when every step adds rows. Here the response and every other design column are
demeaned within step, and only that demeaned design (rows x columns) is ever held. Everything the
dummy fit reports is rebuilt from it exactly:

- slopes b: OLS of the demeaned response on the demeaned columns (FWL);
- step effects: alpha_s = mean_s(y - X b); Intercept = alpha of the first step, step[s] = alpha_s
  minus that;
- cluster-robust covariance: each cluster's influence on every parameter is linear in its residual
  sums (x_tilde e per column, e per step), so the full sandwich needs only small cross-product
  matrices; the small-sample factor counts the absorbed step columns, as statsmodels' does;
- singular values (condition number, rank) and VIFs of the full design: from a (columns + steps)
  square matrix with the same Gram matrix as the full design.

:func:`fit_absorbed` returns a statsmodels OLSResults whose params, covariance, R^2, F test,
likelihood, residuals and singular values are those of the dummy fit, so ``summary()`` prints the
same table; its ``model`` holds the demeaned design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmdyn.divergence.collinearity import vif_from_centred_gram

RCOND = 1e-15  # statsmodels' pinv cutoff for small singular values


@dataclass
class Absorbed:
    fit: object  # statsmodels OLSResultsWrapper, parameters in the dummy fit's column order
    names: list[str]  # the dummy fit's design column names
    vif: np.ndarray  # VIF of every design column (NaN for the intercept)
    rank: int  # rank of the full design, step columns included


def fit_absorbed(d: pd.DataFrame, formula: str, step_term: str, steps: list[int], groups):
    """The OLS fit of ``formula`` (which ends in ``+ step_term``) on ``d``, cluster-robust by
    ``groups``, with the step dummies absorbed rather than built."""
    import statsmodels.formula.api as smf

    base = formula.removesuffix(" + " + step_term)
    if base == formula:
        raise ValueError(f"formula does not end in the step term {step_term!r}")
    model = smf.ols(base, data=d)  # the design without step columns, same formula engine
    y, x, base_names, yname = model.endog, model.exog, list(model.exog_names), model.endog_names
    del model
    names = _full_names(d, formula)
    const = base_names.index("Intercept")
    slopes = [n for i, n in enumerate(base_names) if i != const]
    x = np.delete(x, const, axis=1)  # the intercept is in the span of the step dummies

    codes = pd.Categorical(d["step"], categories=[str(s) for s in steps]).codes
    counts = np.bincount(codes, minlength=len(steps)).astype(float)
    y_t, y_means = _demean(y.astype(float)[:, None], codes, counts)
    x_t, x_means = _demean(x, codes, counts)
    del x
    y_t = y_t[:, 0]
    b, a, s, vt = _solve(x_t, y_t)
    e = y_t - x_t @ b

    # Parameters in block order: Intercept, the step dummies, the slopes.
    lev = np.eye(len(steps))
    lev[1:, 0] = -1.0  # rows: alpha_0, alpha_s - alpha_0
    e_x = lev @ x_means.T  # step means of the columns, as the step parameters combine them
    params = np.concatenate([lev @ y_means[0] - e_x @ b, b])
    p_map = np.vstack([-e_x @ a, a])  # influence of the per-cluster sums of x_t * e
    q_map = np.vstack([lev / counts, np.zeros((len(b), len(steps)))])  # ... of the sums of e
    cov = _cluster_cov(x_t, e, codes, groups, p_map, q_map)

    c = _gram_root(s, vt, x_means, counts)
    s_full = np.linalg.svd(c, compute_uv=False)
    r = np.sqrt(counts / counts.sum())
    v = r @ c[len(s) :]
    vif = vif_from_centred_gram(c.T @ c - np.outer(v, v), const=0)
    ncov = p_map @ ((vt.T * s**2) @ vt) @ p_map.T + (q_map * counts) @ q_map.T

    block = ["Intercept", *_step_names(names, base_names, steps, step_term), *slopes]
    order = [block.index(n) for n in names]
    ix = np.ix_(order, order)
    rank = int(np.linalg.matrix_rank(np.diag(s_full)))
    fit = _results(
        y, y_t, x_t, yname, names, params[order], ncov[ix], cov[ix], e, s_full, rank, groups
    )
    return Absorbed(fit=fit, names=names, vif=vif[order], rank=rank)


def _solve(x, y):
    """(b, (X'X)^+, singular values, V') of OLS by pseudo-inverse, with the cutoff for small
    singular values of statsmodels' "pinv" fit."""
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    keep = s > RCOND * s.max()
    inv_s = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    b = vt.T @ (inv_s * (u.T @ y))
    return b, (vt.T * inv_s**2) @ vt, s, vt


def _demean(a: np.ndarray, codes: np.ndarray, counts: np.ndarray):
    """(columns of ``a`` minus their mean within step, the step means: columns x steps), in place.

    Twice: the second pass removes the rounding left by the first, so the columns are orthogonal to
    the step dummies to working precision."""
    means = np.zeros((a.shape[1], len(counts)))
    for j in range(a.shape[1]):
        for _ in range(2):
            m = np.bincount(codes, weights=a[:, j], minlength=len(counts)) / counts
            a[:, j] -= m[codes]
            means[j] += m
    return a, means


def _full_names(d: pd.DataFrame, formula: str) -> list[str]:
    """The dummy fit's column names, in its order: the formula's design on one row per level of
    every factor (every level present, so the same columns as on all rows)."""
    import statsmodels.formula.api as smf

    rows = sorted({i for c in ("tag", "tag_prev", "model", "step") for i in _first_rows(d[c])})
    return list(smf.ols(formula, data=d.loc[rows]).exog_names)


def _first_rows(s: pd.Series) -> list:
    return s.drop_duplicates().index.tolist()


def _step_names(names, base_names, steps, step_term) -> list[str]:
    """The step dummy columns of ``names``, in step order (reference first, so left out)."""
    extra = [n for n in names if n not in set(base_names)]
    out = [next((n for n in extra if n.endswith(f"[T.{s}]")), None) for s in steps[1:]]
    if None in out or len(extra) != len(steps) - 1 or not all(n.startswith("C(step") for n in out):
        raise RuntimeError(f"cannot map the step columns of {step_term!r}")  # engine naming changed
    return out


def _cluster_cov(x_t, e, codes, groups, p_map, q_map) -> np.ndarray:
    """The dummy fit's cluster-robust covariance (CRV1) in block order.

    A cluster's influence on the parameters is ``p_map @ u + q_map @ w`` with u its sums of
    x_t * e and w its residual sums per step; statsmodels' sandwich is the sum of their outer
    products, times G/(G-1) * (n-1)/(n-K) with K counting the step columns."""
    import scipy.sparse as sp

    n_groups = int(groups.max()) + 1
    u = np.column_stack(
        [
            np.bincount(groups, weights=x_t[:, j] * e, minlength=n_groups)
            for j in range(x_t.shape[1])
        ]
    )
    w = sp.csr_matrix((e, (groups, codes)), shape=(n_groups, q_map.shape[1]))  # sums duplicates
    wu = np.asarray(w.T @ u)
    meat = np.block([[u.T @ u, wu.T], [wu, (w.T @ w).toarray()]])
    h = np.hstack([p_map, q_map])
    n, k = len(e), p_map.shape[0]
    return (h @ meat @ h.T) * (n_groups / (n_groups - 1.0) * (n - 1.0) / (n - k))


def _gram_root(s, vt, x_means, counts) -> np.ndarray:
    """C with C'C the Gram matrix of the full design in block order, the design being
    [orthonormal basis of the demeaned columns, normalised step dummies] @ C: same singular values."""
    root_n = np.sqrt(counts)[:, None]
    n_steps = len(counts)
    top = np.hstack([np.zeros((len(s), n_steps)), s[:, None] * vt])
    dummies = np.eye(n_steps)
    dummies[:, 0] = 1.0  # the intercept column is the sum of all step dummies
    bottom = root_n * np.hstack([dummies, x_means.T])
    return np.vstack([top, bottom])


def _results(y, y_t, x_t, yname, names, params, ncov, cov, e, s_full, rank, groups):
    """statsmodels results of the dummy fit, everything the summary reads set from the absorbed
    fit (the model itself holds the demeaned design, so nothing may be recomputed from it)."""
    from statsmodels.base.covtype import descriptions
    from statsmodels.regression.linear_model import OLS, OLSResults, RegressionResultsWrapper

    n, k = len(e), len(names)
    model = OLS(y_t, x_t, hasconst=False)
    model.data.ynames = yname
    model.data.xnames = names  # the parameters' names (summary, labels), not the demeaned columns'
    model.rank, model.k_constant = rank, 1
    model.df_model, model.df_resid = float(rank - 1), float(n - rank)
    res = OLSResults(model, params, normalized_cov_params=ncov)
    n_groups = int(groups.max()) + 1
    res.cov_type, res.use_t = "cluster", False
    res.cov_kwds = {
        "use_t": False,
        "adjust_df": True,
        "groups": groups,
        "use_correction": True,
        "description": descriptions["cluster"],
    }
    res.cov_params_default, res.n_groups, res.df_resid_inference = cov, n_groups, n_groups - 1
    res._wexog_singular_values = s_full
    ssr, centred = np.dot(e, e), y - y.mean()
    res._cache.update(  # as statsmodels computes them, on the original response
        wresid=e,
        resid=e,
        fittedvalues=y - e,
        ssr=ssr,
        centered_tss=np.dot(centred, centred),
        llf=-n / 2.0 * np.log(2 * np.pi) - n / 2.0 * np.log(ssr / n) - n / 2.0,
    )
    const = names.index("Intercept")
    ft = res.f_test(np.delete(np.eye(k), const, axis=0))  # as statsmodels: all but the constant
    res._cache.update(fvalue=float(ft.fvalue), f_pvalue=float(ft.pvalue))
    return RegressionResultsWrapper(res)
