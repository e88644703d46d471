"""Per-token KL regression: which token properties predict disagreement between seeds.

One OLS fit of the response (e.g. seed-to-seed KL) on log unigram frequency, the predicted
token's POS tag, the context token's POS tag and, when several model sizes are pooled, model
size. Rows are token occurrences, and occurrences of the same token type share unobserved
type-level effects, so standard errors are clustered by token type; otherwise SEs of
type-level predictors (frequency, tag) would be much too small.

The same fit pools several checkpoint steps with step fixed effects (``step_effects=True``; see
lmdyn.divergence.pooled), absorbed by demeaning within step rather than built as dummy columns
(lmdyn.divergence.absorb): the same numbers, without a design column per step. Every fit carries
collinearity diagnostics: the design's condition number and variance inflation factors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lmdyn.core.errors import UserError
from lmdyn.divergence.absorb import fit_absorbed
from lmdyn.divergence.collinearity import connected, variance_inflation_factors
from lmdyn.divergence.regression_text import diagnostics_text, latex_table, undated

OTHER = "OTHER"
DIAGNOSED = (
    "log_unigram",
    "tag",
    "tag_prev",
    "model",
    "step",
)  # variables whose max VIF is reported
_VAR_OF_FACTOR = re.compile(r"^C\((\w+)")


@dataclass
class RegressionResult:
    coefs: pd.DataFrame  # term, variable, level, coef, se, ci_low, ci_high, p_value, n_obs
    references: dict[str, str]  # variable -> reference level of its Treatment coding
    latex: str  # LaTeX tabular of coefs (clean term names, escaped)
    text: str  # statsmodels summary + references, clustering, merged tags
    notes: list[str] = field(default_factory=list)
    merged: dict[str, list[str]] = field(default_factory=dict)  # variable -> tags merged into OTHER
    n_clusters: int = 0
    # statsmodels RegressionResults, for callers wanting more (with step effects: its params and
    # covariance are the dummy fit's, its model holds the within-step demeaned design)
    fit: object = field(default=None, repr=False)
    # n_obs, n_clusters, steps (pooled steps, [] without step column), n_columns, rank,
    # condition_number, vif (design column -> VIF, intercept excluded), max_vif (variable -> max VIF)
    diagnostics: dict = field(default_factory=dict)


def _merge_rare(s: pd.Series, min_count: int, per: int = 1) -> tuple[pd.Series, list[str]]:
    """Rare levels get nearly-empty dummy columns (singular or wildly unstable); pool them.

    ``per``: number of pooled steps. Counts are per step, because the same token positions recur
    at every step: pooling steps repeats a rare tag's few tokens, it does not add new ones.
    """
    counts = s.value_counts()
    rare = sorted(counts.index[counts < min_count * per].tolist())
    return (s.where(~s.isin(rare), OTHER) if rare else s), rare


def _pick_reference(s: pd.Series, wanted: str, var: str, notes: list[str]) -> str:
    if (s == wanted).any():
        return wanted
    ref = s.value_counts().index[0]  # deterministic: value_counts is sorted by count, then stable
    notes.append(
        f"{var}: reference {wanted!r} absent after merging; using most frequent level {ref!r}"
    )
    return ref


def _treat(col: str, ref: str, levels: list[str] | None = None) -> str:
    # repr() yields a valid Python string literal for any tag ('.', "''", '``', '$', ...);
    # patsy evaluates the formula's arguments as Python, so this is the quoting it needs.
    lv = f", levels={levels!r}" if levels is not None else ""
    return f"C({col}, Treatment(reference={ref!r}){lv})"


def fit_kl_regression(
    df: pd.DataFrame,
    response: str = "kl",
    tag_reference: str = "NN",
    size_order: list[str] | None = None,
    min_tag_count: int = 30,
    cluster_col: str = "target_id",
    step_effects: bool = False,
) -> RegressionResult:
    """OLS ``response ~ log_unigram + C(tag) + C(tag_prev) [+ C(model)] [+ C(step)]``, cluster-robust SEs.

    Treatment coding; references are ``tag_reference`` for both tag factors (or the most frequent
    level if it is absent after merging rare tags into "OTHER") and ``size_order[0]`` for model.
    The model factor enters only when at least two models are present. Rows with a missing or
    non-finite value in any used column are dropped (and counted in the notes): patsy would drop
    NaNs silently, which would misalign the cluster groups.

    ``step_effects``: ``df`` pools several steps (integer column ``step``); step fixed effects
    enter when at least two steps are present, reference the first step. Rare tags are then
    counted per step. If some models share no step with the others (e.g. a phase spans different
    steps in different models), model and step dummies are collinear: the model factor is dropped,
    with a note (the step effects absorb it). ``diagnostics`` holds rows, clusters, condition number and VIFs.
    """
    import statsmodels.formula.api as smf  # heavy; only callers that fit pay for it

    notes: list[str] = []
    d, steps = _complete_rows(df, response, cluster_col, step_effects, notes)
    terms, references, merged = _terms(
        d, steps, tag_reference, size_order, min_tag_count, step_effects, notes
    )
    groups, n_clusters = _check_design(d, response, cluster_col, references)
    # Q() quotes the response so any column name works in the formula.
    formula = f"Q({response!r}) ~ " + " + ".join(terms)
    if "step" in references:  # the step term is last
        ab = fit_absorbed(d, formula, terms[-1], steps, groups)
        fit, names, vif, rank = ab.fit, ab.names, ab.vif, ab.rank
    else:
        fit = smf.ols(formula, data=d).fit(cov_type="cluster", cov_kwds={"groups": groups})
        names, rank = list(fit.model.exog_names), int(fit.model.rank)
        vif = variance_inflation_factors(fit.model.exog)
    variables, levels, clean = _design_columns(names, d, references)
    coefs = _coef_table(fit, clean, variables, levels)
    diagnostics = _diagnostics(fit, vif, rank, variables, clean, steps, n_clusters, notes)
    extra = _summary_lines(references, cluster_col, min_tag_count, merged, diagnostics, notes)
    text = (
        undated(fit.summary(yname=response, xname=clean).as_text()) + "\n" + "\n".join(extra) + "\n"
    )
    return RegressionResult(
        coefs=coefs,
        references=references,
        latex=latex_table(coefs, references, cluster_col, n_clusters),
        text=text,
        notes=notes,
        merged=merged,
        n_clusters=n_clusters,
        fit=fit,
        diagnostics=diagnostics,
    )


def _complete_rows(
    df, response, cluster_col, step_effects, notes
) -> tuple[pd.DataFrame, list[int]]:
    """The used columns of the rows without a missing or non-finite value (factors as strings), and
    the sorted steps (empty without a step column)."""
    needed = [response, "log_unigram", "tag", "tag_prev", "model", cluster_col]
    if step_effects or "step" in df.columns:
        needed.append("step")
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise UserError(f"regression input lacks column(s): {', '.join(missing)}")
    d = df[needed].copy()
    for c in (response, "log_unigram"):
        d[c] = pd.to_numeric(d[c], errors="coerce").replace([np.inf, -np.inf], np.nan)
    n_in = len(d)
    d = d.dropna().reset_index(drop=True)
    if len(d) < n_in:
        notes.append(f"dropped {n_in - len(d)} of {n_in} rows with missing/non-finite values")
    if len(d) == 0:
        raise UserError("regression input has no complete rows")
    for c in ("tag", "tag_prev", "model"):
        d[c] = d[c].astype(str)
    steps: list[int] = []
    if "step" in d.columns:
        st = pd.to_numeric(d["step"], errors="coerce")
        if st.isna().any() or (st != st.round()).any():
            raise UserError("regression input column 'step' must hold integer steps")
        steps = sorted(int(v) for v in st.unique())
        # a factor; its levels are passed in numeric order by _terms
        d["step"] = st.astype(np.int64).astype(str)
    return d, steps


def _model_order(models: pd.Series, size_order: list[str] | None) -> list[str] | None:
    """The models present, reference first; None for fewer than two (no model factor)."""
    present = set(models.unique())
    if len(present) < 2:
        return None
    if size_order is None:
        return sorted(present)
    unknown = sorted(present - set(size_order))
    if unknown:
        raise UserError(f"models not in size_order: {', '.join(unknown)}")
    return [m for m in size_order if m in present]


def _terms(d, steps, tag_reference, size_order, min_tag_count, step_effects, notes):
    """(formula terms, variable -> reference level, variable -> tags merged into OTHER); merges the
    rare tags of ``d`` in place."""
    merged: dict[str, list[str]] = {}
    references: dict[str, str] = {}
    terms = ["log_unigram"]
    for c in ("tag", "tag_prev"):
        d[c], merged[c] = _merge_rare(d[c], min_tag_count, per=max(len(steps), 1))
        references[c] = _pick_reference(d[c], tag_reference, c, notes)
        terms.append(_treat(c, references[c]))
    order = _model_order(d["model"], size_order)
    if order is not None:
        if step_effects and len(steps) >= 2 and not connected(d["model"], d["step"]):
            notes.append(
                "model: not identified alongside step effects (some models share no step with "
                "the others); C(model) dropped, the step effects absorb it"
            )
        else:
            references["model"] = order[0]
            terms.append(_treat("model", order[0], order))
    if step_effects and len(steps) >= 2:
        references["step"] = str(steps[0])
        terms.append(_treat("step", str(steps[0]), [str(v) for v in steps]))
    return terms, references, merged


def _check_design(d, response: str, cluster_col: str, references: dict):
    """(cluster group of every row, number of clusters) once the fit is possible at all."""
    n_params = (
        2
        + sum(d[c].nunique() - 1 for c in ("tag", "tag_prev"))
        + sum(d[c].nunique() - 1 for c in ("model", "step") if c in references)
    )
    if len(d) <= n_params:
        raise UserError(f"regression has {len(d)} rows but {n_params} parameters")
    if not np.ptp(d[response].to_numpy()) > 0:
        raise UserError(f"response {response!r} has no variance")
    groups, uniq = pd.factorize(d[cluster_col])
    if len(uniq) < 2:
        raise UserError(f"need at least 2 clusters of {cluster_col!r}, got {len(uniq)}")
    return groups, len(uniq)


def _design_columns(names, d, references: dict) -> tuple[list[str], list[str], list[str]]:
    """(variable, level, clean term name) of every design column (``names``: as the engine spells them).

    Known levels are matched against the "[T.level]" suffix, longest first: robust to how the
    formula engine (patsy or formulaic) respells the term, and to odd tags such as ']' or '.'.
    """
    nonref = {v: sorted(set(d[v]) - {references[v]}, key=len, reverse=True) for v in references}
    variables, levels = [], []
    for name in names:
        m = _VAR_OF_FACTOR.match(name)
        var = m.group(1) if m else ("intercept" if name == "Intercept" else name)
        lv = next((lv for lv in nonref.get(var, []) if name.endswith(f"[T.{lv}]")), "") if m else ""
        if m and (var not in nonref or not lv):
            raise RuntimeError(f"cannot map design column {name!r}")  # engine naming changed
        variables.append(var)
        levels.append(lv)
    clean = [
        ("Intercept" if v == "intercept" else v if not lv else f"{v}[{lv}]")
        for v, lv in zip(variables, levels)
    ]
    return variables, levels, clean


def _coef_table(fit, clean, variables, levels) -> pd.DataFrame:
    ci = np.asarray(fit.conf_int(alpha=0.05))
    return pd.DataFrame(
        {
            "term": clean,
            "variable": variables,
            "level": levels,
            "coef": np.asarray(fit.params),
            "se": np.asarray(fit.bse),
            "ci_low": ci[:, 0],
            "ci_high": ci[:, 1],
            "p_value": np.asarray(fit.pvalues),
            "n_obs": int(fit.nobs),
        }
    )


def _diagnostics(fit, vif, rank, variables, clean, steps, n_clusters: int, notes) -> dict:
    """Rows, clusters, rank, condition number and VIFs of a fit (a rank deficiency is also noted)."""
    k = len(clean)
    max_vif = {}
    for var in DIAGNOSED:
        v = [x for x, name in zip(vif, variables) if name == var and np.isfinite(x)]
        if v:
            max_vif[var] = float(max(v))
    if rank < k:
        notes.append(
            f"design is rank deficient ({rank} of {k} columns): "
            "coefficients are not uniquely determined"
        )
    return {
        "n_obs": int(fit.nobs),
        "n_clusters": n_clusters,
        "steps": steps,
        "n_columns": k,
        "rank": rank,
        "condition_number": float(fit.condition_number),
        "vif": {name: float(x) for name, x in zip(clean, vif) if np.isfinite(x)},
        "max_vif": max_vif,
    }


def _summary_lines(references, cluster_col, min_tag_count, merged, diagnostics, notes) -> list[str]:
    """What the text summary adds below statsmodels' table."""
    per = " per step" if len(diagnostics["steps"]) > 1 else ""
    return [
        "References: " + "; ".join(f"{k}={v!r}" for k, v in references.items()),
        f"Standard errors clustered by {cluster_col} ({diagnostics['n_clusters']} clusters)",
        f"Merged into OTHER (< {min_tag_count} rows{per}): "
        + "; ".join(f"{k}: {', '.join(map(repr, v)) if v else 'none'}" for k, v in merged.items()),
        diagnostics_text(diagnostics),
        *notes,
    ]
