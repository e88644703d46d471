"""Per-token KL regression: which token properties predict disagreement between seeds.

One OLS fit of the response (e.g. seed-to-seed KL) on log unigram frequency, the predicted
token's POS tag, the context token's POS tag and, when several model sizes are pooled, model
size. Rows are token occurrences, and occurrences of the same token type share unobserved
type-level effects, so standard errors are clustered by token type; otherwise SEs of
type-level predictors (frequency, tag) would be much too small.

The same fit pools several checkpoint steps with step fixed effects (``step_effects=True``):
:func:`fit_pooled` over every step but 0, and :func:`fit_by_phase` within each training phase
(uniform, unigram, contextual; :func:`assign_phases` reads them from a phase table). Every fit
carries collinearity diagnostics: the design's condition number and variance inflation factors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lmdyn.core.errors import UserError

OTHER = "OTHER"
PHASES = ("uniform", "unigram", "contextual")
DIAGNOSED = (
    "log_unigram",
    "tag",
    "tag_prev",
    "model",
    "step",
)  # variables whose max VIF is reported
_VAR_OF_FACTOR = re.compile(r"^C\((\w+)")
MIN_ROWS_PER_PARAM = 5  # a phase fit with fewer rows per design column is skipped
_VIF_R2_MAX = (
    1.0 - 1e-15
)  # as statsmodels' variance_inflation_factor: a perfect duplicate gets 1e15, not inf


@dataclass
class RegressionResult:
    coefs: pd.DataFrame  # term, variable, level, coef, se, ci_low, ci_high, p_value, n_obs
    references: dict[str, str]  # variable -> reference level of its Treatment coding
    latex: str  # LaTeX tabular of coefs (clean term names, escaped)
    text: str  # statsmodels summary + references, clustering, merged tags
    notes: list[str] = field(default_factory=list)
    merged: dict[str, list[str]] = field(default_factory=dict)  # variable -> tags merged into OTHER
    n_clusters: int = 0
    fit: object = field(
        default=None, repr=False
    )  # statsmodels RegressionResults, for callers wanting more
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


def _tex(s: str) -> str:
    """Escape a term name for LaTeX text mode (tag names are full of specials: $ `` '' # ...)."""
    rep = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "`": r"\textasciigrave{}",
        "'": r"\textquotesingle{}",
        "<": r"\textless{}",
        ">": r"\textgreater{}",
        "|": r"\textbar{}",
    }
    return re.sub("-(?=-)", "-{}", "".join(rep.get(c, c) for c in s))  # no --/--- dash ligatures


def _fmt_p(p: float) -> str:
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def _latex_table(
    coefs: pd.DataFrame, references: dict[str, str], cluster_col: str, n_clusters: int
) -> str:
    lines = [
        r"\begin{tabular}{lrrrr}",
        r"\hline",
        r"Term & Coef. & SE & 95\% CI & $p$ \\",
        r"\hline",
    ]
    for r in coefs.itertuples():
        lines.append(
            f"{_tex(r.term)} & {r.coef:.4f} & {r.se:.4f} & "
            f"[{r.ci_low:.4f}, {r.ci_high:.4f}] & {_fmt_p(r.p_value)} \\\\"
        )
    refs = "; ".join(f"{_tex(k)}: {_tex(v)}" for k, v in references.items())
    n = int(coefs["n_obs"].iloc[0]) if len(coefs) else 0
    lines += [
        r"\hline",
        rf"\multicolumn{{5}}{{l}}{{\footnotesize $N={n}$; SE clustered by {_tex(cluster_col)} "
        rf"({n_clusters} clusters); references: {refs}}} \\",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


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
    if len(idx) == 1:
        out[idx] = 1.0
        return out
    # Centred, as statsmodels (standardize=True): R^2 of a regression with an intercept.
    mean = x[:, idx].mean(axis=0)
    gram = np.zeros((len(idx), len(idx)))
    for start in range(0, n, chunk_rows):
        z = x[start : start + chunk_rows, idx] - mean
        gram += z.T @ z
    d = np.sqrt(np.diag(gram))
    corr = gram / np.outer(d, d)
    if np.linalg.cond(corr) < 1e10:
        # R^2_j = 1 - 1 / (R^-1)_jj for the correlation matrix R
        r2 = 1.0 - 1.0 / np.diag(np.linalg.inv(corr))
    else:  # (nearly) singular: one least-squares solve per column on the k x k system, still cheap
        r2 = np.empty(len(idx))
        for j in range(len(idx)):
            o = np.arange(len(idx)) != j
            beta = np.linalg.lstsq(corr[np.ix_(o, o)], corr[o, j], rcond=None)[0]
            r2[j] = corr[j, o] @ beta
    out[idx] = 1.0 / (1.0 - np.clip(r2, 0.0, _VIF_R2_MAX))
    return out


def _connected(a: pd.Series, b: pd.Series) -> bool:
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


def _diagnostics_text(dg: dict) -> str:
    steps = dg["steps"]
    span = (
        ""
        if not steps
        else (
            f", step {steps[0]}"
            if len(steps) == 1
            else f", {len(steps)} steps {steps[0]}..{steps[-1]}"
        )
    )
    vif = "; ".join(f"{k}={v:.3g}" for k, v in dg["max_vif"].items()) or "none (intercept only)"
    return (
        f"Diagnostics: {dg['n_obs']} rows, {dg['n_clusters']} clusters{span}; design {dg['n_columns']} "
        f"columns, rank {dg['rank']}; condition number {dg['condition_number']:.4g}\n"
        f"Max VIF per variable: {vif}"
    )


def undated(summary_text: str) -> str:
    """A statsmodels summary without its Date: and Time: cells (the wall clock of the fit), so the
    same data give byte-identical summaries."""
    return re.sub(
        r"(Date|Time):(\s+)\S.*?(?=\s{2,}|$)",
        lambda m: (
            f"{m.group(1)}:{m.group(2)}"
            + "-" * len(m.group(0)[len(m.group(1)) + 1 + len(m.group(2)) :])
        ),
        summary_text,
        flags=re.M,
    )


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
    notes: list[str] = []
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
        d["step"] = st.astype(np.int64).astype(
            str
        )  # a factor; levels passed in numeric order below

    merged: dict[str, list[str]] = {}
    references: dict[str, str] = {}
    terms = ["log_unigram"]
    for c in ("tag", "tag_prev"):
        d[c], merged[c] = _merge_rare(d[c], min_tag_count, per=max(len(steps), 1))
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
        if step_effects and len(steps) >= 2 and not _connected(d["model"], d["step"]):
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
    clean = [
        ("Intercept" if v == "intercept" else v if not lv else f"{v}[{lv}]")
        for v, lv in zip(variables, levels)
    ]

    ci = np.asarray(fit.conf_int(alpha=0.05))
    coefs = pd.DataFrame(
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

    exog = fit.model.exog
    vif = variance_inflation_factors(exog)
    max_vif = {}
    for var in DIAGNOSED:
        v = [x for x, name in zip(vif, variables) if name == var and np.isfinite(x)]
        if v:
            max_vif[var] = float(max(v))
    rank = int(fit.model.rank)
    if rank < exog.shape[1]:
        notes.append(
            f"design is rank deficient ({rank} of {exog.shape[1]} columns): "
            "coefficients are not uniquely determined"
        )
    diagnostics = {
        "n_obs": int(fit.nobs),
        "n_clusters": len(uniq),
        "steps": steps,
        "n_columns": int(exog.shape[1]),
        "rank": rank,
        "condition_number": float(fit.condition_number),
        "vif": {name: float(x) for name, x in zip(clean, vif) if np.isfinite(x)},
        "max_vif": max_vif,
    }

    per = " per step" if len(steps) > 1 else ""
    extra = [
        "References: " + "; ".join(f"{k}={v!r}" for k, v in references.items()),
        f"Standard errors clustered by {cluster_col} ({len(uniq)} clusters)",
        f"Merged into OTHER (< {min_tag_count} rows{per}): "
        + "; ".join(f"{k}: {', '.join(map(repr, v)) if v else 'none'}" for k, v in merged.items()),
        _diagnostics_text(diagnostics),
        *notes,
    ]
    text = (
        undated(fit.summary(yname=response, xname=clean).as_text()) + "\n" + "\n".join(extra) + "\n"
    )
    return RegressionResult(
        coefs=coefs,
        references=references,
        latex=_latex_table(coefs, references, cluster_col, len(uniq)),
        text=text,
        notes=notes,
        merged=merged,
        n_clusters=len(uniq),
        fit=fit,
        diagnostics=diagnostics,
    )


# ---- pooled and per-phase fits ------------------------------------------------------------------


def sample_positions(keys: pd.DataFrame, n: int | None, seed: int = 0) -> pd.DataFrame | None:
    """``n`` token positions (``doc_id, position``) drawn without replacement with a fixed seed.

    None when ``n`` is None or covers every position (use all). The draw depends only on the set
    of positions (they are sorted first), so every step and model gets the same positions.
    """
    k = keys[["doc_id", "position"]].drop_duplicates().sort_values(["doc_id", "position"])
    if n is None or n >= len(k):
        return None
    if n < 1:
        raise UserError(f"tokens_per_step must be at least 1, got {n}")
    pick = np.sort(np.random.default_rng(seed).choice(len(k), size=n, replace=False))
    return k.iloc[pick].reset_index(drop=True)


def assign_phases(steps: pd.DataFrame, phase_table: pd.DataFrame) -> pd.DataFrame:
    """``steps`` (columns model, step; any other columns kept) with a ``phase`` column added.

    Read from each model's ``seeds == "mean"`` row of the phase table (lmdyn.divergence.phases.phase_table):
    step <= uniform_end -> "uniform"; uniform_end < step < contextual_onset -> "unigram";
    step >= contextual_onset -> "contextual"; without a contextual onset (NaN: not reached)
    everything after uniform_end is "unigram". A missing uniform_end counts as 0 and a contextual
    onset before uniform_end as uniform_end, as in lmdyn.divergence.phases.phase_spans.
    """
    need = ["model", "seeds", "uniform_end", "contextual_onset"]
    missing = [c for c in need if c not in phase_table.columns]
    if missing:
        raise UserError(f"phase table lacks column(s): {', '.join(missing)}")
    mean = phase_table[phase_table["seeds"] == "mean"].copy()
    mean["model"] = mean["model"].astype(str)
    dup = sorted(mean.loc[mean["model"].duplicated(), "model"].unique())
    if dup:
        raise UserError(f"phase table has several seeds='mean' rows for model(s): {', '.join(dup)}")
    models = steps["model"].astype(str)
    absent = sorted(set(models) - set(mean["model"]))
    if absent:
        raise UserError(f"phase table has no seeds='mean' row for model(s): {', '.join(absent)}")
    mean = mean.set_index("model")
    u = pd.to_numeric(mean["uniform_end"], errors="coerce").reindex(models).fillna(0.0).to_numpy()
    c = pd.to_numeric(mean["contextual_onset"], errors="coerce").reindex(models).to_numpy()
    step = pd.to_numeric(steps["step"], errors="raise").to_numpy(dtype=float)
    phase = np.where(
        step <= u, "uniform", np.where(~np.isnan(c) & (step >= c), "contextual", "unigram")
    )
    return steps.assign(phase=phase)


def fit_pooled(df: pd.DataFrame, **kw) -> RegressionResult:
    """One fit over every step but 0 (all models are at initialisation there), step fixed effects."""
    if "step" not in df.columns:
        raise UserError("pooled regression input lacks column 'step'")
    d = df[pd.to_numeric(df["step"]) > 0]
    if d.empty:
        raise UserError("no steps after step 0 to pool")
    return fit_kl_regression(d, step_effects=True, **kw)


def fit_by_phase(
    df: pd.DataFrame, phase_table: pd.DataFrame, min_rows_per_param: int = MIN_ROWS_PER_PARAM, **kw
) -> tuple[dict[str, RegressionResult], pd.DataFrame, list[str]]:
    """One pooled fit per phase (step 0 excluded, as in :func:`fit_pooled`), step fixed effects within it.

    Returns (fits by phase in PHASES order, the (model, step, phase) assignment, notes). A phase is
    skipped, with a note, rather than failing the others when it has no steps, fewer than
    ``min_rows_per_param`` rows per design column, no more clusters than design columns (the
    clustered covariance would be singular), no variance, or fewer rows than parameters.
    """
    d = df[pd.to_numeric(df["step"]) > 0]
    cells = assign_phases(
        d[["model", "step"]].drop_duplicates().sort_values(["model", "step"]), phase_table
    )
    d = d.merge(cells, on=["model", "step"], how="left", validate="many_to_one")
    fits: dict[str, RegressionResult] = {}
    notes: list[str] = []
    for ph in PHASES:
        sub = d[d["phase"] == ph].drop(columns="phase")
        if sub.empty:
            notes.append(f"phase {ph}: no steps after step 0; skipped")
            continue
        try:
            res = fit_kl_regression(sub, step_effects=True, **kw)
        except UserError as e:
            notes.append(f"phase {ph}: skipped ({len(sub)} rows): {e}")
            continue
        dg = res.diagnostics
        if (
            dg["n_obs"] < min_rows_per_param * dg["n_columns"]
            or dg["n_clusters"] <= dg["n_columns"]
        ):
            notes.append(
                f"phase {ph}: skipped: too few rows ({dg['n_obs']}) or clusters ({dg['n_clusters']}) "
                f"for {dg['n_columns']} parameters (need {min_rows_per_param} rows per parameter "
                "and more clusters than parameters)"
            )
            continue
        fits[ph] = res
    return fits, cells.reset_index(drop=True), notes


def phase_assignment_text(cells: pd.DataFrame) -> str:
    """One line per model: the steps of each phase."""
    lines = []
    for model, g in cells.groupby("model", sort=False):
        parts = []
        for ph in PHASES:
            st = g.loc[g["phase"] == ph, "step"].tolist()
            parts.append(f"{ph} {', '.join(map(str, st)) if st else '-'}")
        lines.append(f"  {model}: " + "; ".join(parts))
    return "\n".join(lines)
