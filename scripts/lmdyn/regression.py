"""Per-token KL regression: which token properties predict disagreement between seeds.

One OLS fit of the response (e.g. seed-to-seed KL) on log unigram frequency, the predicted
token's POS tag, the context token's POS tag and, when several model sizes are pooled, model
size. Rows are token occurrences, and occurrences of the same token type share unobserved
type-level effects, so standard errors are clustered by token type; otherwise SEs of
type-level predictors (frequency, tag) would be much too small.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lmdyn.errors import UserError

OTHER = "OTHER"
_VAR_OF_FACTOR = re.compile(r"^C\((\w+)")


@dataclass
class RegressionResult:
    coefs: pd.DataFrame          # term, variable, level, coef, se, ci_low, ci_high, p_value, n_obs
    references: dict[str, str]   # variable -> reference level of its Treatment coding
    latex: str                   # LaTeX tabular of coefs (clean term names, escaped)
    text: str                    # statsmodels summary + references, clustering, merged tags
    notes: list[str] = field(default_factory=list)
    merged: dict[str, list[str]] = field(default_factory=dict)  # variable -> tags merged into OTHER
    n_clusters: int = 0
    fit: object = field(default=None, repr=False)  # statsmodels RegressionResults, for callers wanting more


def _merge_rare(s: pd.Series, min_count: int) -> tuple[pd.Series, list[str]]:
    """Rare levels get nearly-empty dummy columns (singular or wildly unstable); pool them."""
    counts = s.value_counts()
    rare = sorted(counts.index[counts < min_count].tolist())
    return (s.where(~s.isin(rare), OTHER) if rare else s), rare


def _pick_reference(s: pd.Series, wanted: str, var: str, notes: list[str]) -> str:
    if (s == wanted).any():
        return wanted
    ref = s.value_counts().index[0]  # deterministic: value_counts is sorted by count, then stable
    notes.append(f"{var}: reference {wanted!r} absent after merging; using most frequent level {ref!r}")
    return ref


def _treat(col: str, ref: str, levels: list[str] | None = None) -> str:
    # repr() yields a valid Python string literal for any tag ('.', "''", '``', '$', ...);
    # patsy evaluates the formula's arguments as Python, so this is the quoting it needs.
    lv = f", levels={levels!r}" if levels is not None else ""
    return f"C({col}, Treatment(reference={ref!r}){lv})"


def _tex(s: str) -> str:
    """Escape a term name for LaTeX text mode (tag names are full of specials: $ `` '' # ...)."""
    rep = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
           "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
           "`": r"\textasciigrave{}", "'": r"\textquotesingle{}", "<": r"\textless{}",
           ">": r"\textgreater{}", "|": r"\textbar{}"}
    return re.sub("-(?=-)", "-{}", "".join(rep.get(c, c) for c in s))  # no --/--- dash ligatures


def _fmt_p(p: float) -> str:
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def _latex_table(coefs: pd.DataFrame, references: dict[str, str], cluster_col: str, n_clusters: int) -> str:
    lines = [r"\begin{tabular}{lrrrr}", r"\hline",
             r"Term & Coef. & SE & 95\% CI & $p$ \\", r"\hline"]
    for r in coefs.itertuples():
        lines.append(f"{_tex(r.term)} & {r.coef:.4f} & {r.se:.4f} & "
                     f"[{r.ci_low:.4f}, {r.ci_high:.4f}] & {_fmt_p(r.p_value)} \\\\")
    refs = "; ".join(f"{_tex(k)}: {_tex(v)}" for k, v in references.items())
    n = int(coefs["n_obs"].iloc[0]) if len(coefs) else 0
    lines += [r"\hline",
              rf"\multicolumn{{5}}{{l}}{{\footnotesize $N={n}$; SE clustered by {_tex(cluster_col)} "
              rf"({n_clusters} clusters); references: {refs}}} \\",
              r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def fit_kl_regression(df: pd.DataFrame, response: str = "kl", tag_reference: str = "NN",
                      size_order: list[str] | None = None, min_tag_count: int = 30,
                      cluster_col: str = "target_id") -> RegressionResult:
    """OLS ``response ~ log_unigram + C(tag) + C(tag_prev) [+ C(model)]`` with cluster-robust SEs.

    Treatment coding; references are ``tag_reference`` for both tag factors (or the most frequent
    level if it is absent after merging rare tags into "OTHER") and ``size_order[0]`` for model.
    The model factor enters only when at least two models are present. Rows with a missing or
    non-finite value in any used column are dropped (and counted in the notes): patsy would drop
    NaNs silently, which would misalign the cluster groups.
    """
    import statsmodels.formula.api as smf  # heavy; only callers that fit pay for it

    needed = [response, "log_unigram", "tag", "tag_prev", "model", cluster_col]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise UserError(f"regression input lacks column(s): {', '.join(missing)}")
    d = df[needed].copy()
    for c in (response, "log_unigram"):
        d[c] = pd.to_numeric(d[c], errors="coerce").replace([np.inf, -np.inf], np.nan)
    n_in = len(d)
    d = d.dropna().reset_index(drop=True)
    notes: list[str] = []
    if len(d) < n_in:
        notes.append(f"dropped {n_in - len(d)} of {n_in} rows with missing/non-finite values")
    if len(d) == 0:
        raise UserError("regression input has no complete rows")
    for c in ("tag", "tag_prev", "model"):
        d[c] = d[c].astype(str)

    merged: dict[str, list[str]] = {}
    references: dict[str, str] = {}
    terms = ["log_unigram"]
    for c in ("tag", "tag_prev"):
        d[c], merged[c] = _merge_rare(d[c], min_tag_count)
        references[c] = _pick_reference(d[c], tag_reference, c, notes)
        terms.append(_treat(c, references[c]))

    present = set(d["model"].unique())
    if len(present) >= 2:
        if size_order is None:
            order = sorted(present)
        else:
            unknown = sorted(present - set(size_order))
            if unknown:
                raise UserError(f"models not in size_order: {', '.join(unknown)}")
            order = [m for m in size_order if m in present]
        references["model"] = order[0]
        terms.append(_treat("model", order[0], order))

    n_params = 2 + sum(d[c].nunique() - 1 for c in ("tag", "tag_prev")) + (
        d["model"].nunique() - 1 if "model" in references else 0)
    if len(d) < n_params:
        raise UserError(f"regression has {len(d)} rows but {n_params} parameters")
    if not np.ptp(d[response].to_numpy()) > 0:
        raise UserError(f"response {response!r} has no variance")
    groups, uniq = pd.factorize(d[cluster_col])
    if len(uniq) < 2:
        raise UserError(f"need at least 2 clusters of {cluster_col!r}, got {len(uniq)}")

    # Q() quotes the response so any column name works in the formula.
    formula = f"Q({response!r}) ~ " + " + ".join(terms)
    fit = smf.ols(formula, data=d).fit(cov_type="cluster", cov_kwds={"groups": groups})

    # Map design column names back to (variable, level) by matching known levels against the
    # "[T.level]" suffix, longest first: robust to how the formula engine (patsy or formulaic)
    # respells the term, and to odd tags such as ']' or '.'.
    nonref = {v: sorted(set(d[v]) - {references[v]}, key=len, reverse=True) for v in references}
    variables, levels = [], []
    for name in fit.model.exog_names:
        m = _VAR_OF_FACTOR.match(name)
        var = m.group(1) if m else ("intercept" if name == "Intercept" else name)
        lv = next((lv for lv in nonref.get(var, []) if name.endswith(f"[T.{lv}]")), "") if m else ""
        if m and (var not in nonref or not lv):
            raise RuntimeError(f"cannot map design column {name!r}")  # engine naming changed
        variables.append(var)
        levels.append(lv)
    clean = [("Intercept" if v == "intercept" else v if not lv else f"{v}[{lv}]")
             for v, lv in zip(variables, levels)]

    ci = np.asarray(fit.conf_int(alpha=0.05))
    coefs = pd.DataFrame({
        "term": clean, "variable": variables, "level": levels,
        "coef": np.asarray(fit.params), "se": np.asarray(fit.bse),
        "ci_low": ci[:, 0], "ci_high": ci[:, 1], "p_value": np.asarray(fit.pvalues),
        "n_obs": int(fit.nobs),
    })

    extra = [
        "References: " + "; ".join(f"{k}={v!r}" for k, v in references.items()),
        f"Standard errors clustered by {cluster_col} ({len(uniq)} clusters)",
        "Merged into OTHER (< %d rows): " % min_tag_count + "; ".join(
            f"{k}: {', '.join(map(repr, v)) if v else 'none'}" for k, v in merged.items()),
        *notes,
    ]
    text = fit.summary(yname=response, xname=clean).as_text() + "\n" + "\n".join(extra) + "\n"
    return RegressionResult(coefs=coefs, references=references,
                            latex=_latex_table(coefs, references, cluster_col, len(uniq)),
                            text=text, notes=notes, merged=merged, n_clusters=len(uniq), fit=fit)
