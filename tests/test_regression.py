"""Tests for lmdyn.divergence.regression: planted-coefficient recovery on data simulated here, clustering,
odd tag names, input checks; pooled fits with step fixed effects, per-phase fits, phase assignment,
collinearity diagnostics, and the rule script on tiny files."""

import io
import re
import runpy
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.stats.outliers_influence import variance_inflation_factor

from lmdyn.core.errors import UserError
from lmdyn.divergence.collinearity import variance_inflation_factors
from lmdyn.divergence.pooled import assign_phases, fit_by_phase, fit_pooled, sample_positions
from lmdyn.divergence.regression import fit_kl_regression
from lmdyn.divergence.regression_text import undated

TAG_EFFECT = {"NN": 0.0, "VB": 0.4, "JJ": -0.25, "DT": 0.15}
PREV_EFFECT = {"NN": 0.0, "IN": 0.2, "DT": -0.1}
MODEL_EFFECT = {"micro-s": 0.0, "micro-m": -0.3, "micro-l": -0.5}
SLOPE, INTERCEPT = -0.3, 0.5


def simulate(n=20000, n_types=300, seed=0, re_sd=0.4, noise_sd=0.3, models=tuple(MODEL_EFFECT)):
    """Token types carry fixed log_unigram, tag and a random effect; occurrences add the rest."""
    rng = np.random.default_rng(seed)
    type_lu = rng.uniform(-12, -4, n_types)
    type_tag = rng.choice(list(TAG_EFFECT), n_types)
    type_re = rng.normal(0, re_sd, n_types)
    t = rng.integers(0, n_types, n)
    prev = rng.choice(list(PREV_EFFECT), n)
    model = rng.choice(list(models), n)
    kl = (
        INTERCEPT
        + SLOPE * type_lu[t]
        + np.array([TAG_EFFECT[x] for x in type_tag[t]])
        + np.array([PREV_EFFECT[x] for x in prev])
        + np.array([MODEL_EFFECT[m] for m in model])
        + type_re[t]
        + rng.normal(0, noise_sd, n)
    )
    return pd.DataFrame(
        {
            "kl": kl,
            "log_unigram": type_lu[t],
            "tag": type_tag[t],
            "tag_prev": prev,
            "model": model,
            "target_id": t,
        }
    )


@pytest.fixture(scope="module")
def sim():
    df = simulate()
    return df, fit_kl_regression(df, size_order=list(MODEL_EFFECT))


def test_planted_coefficients_recovered(sim):
    _, res = sim
    c = res.coefs.set_index("term")
    planted = {
        "Intercept": INTERCEPT,
        "log_unigram": SLOPE,
        **{f"tag[{k}]": v for k, v in TAG_EFFECT.items() if k != "NN"},
        **{f"tag_prev[{k}]": v for k, v in PREV_EFFECT.items() if k != "NN"},
        **{f"model[{k}]": v for k, v in MODEL_EFFECT.items() if k != "micro-s"},
    }
    assert set(c.index) == set(planted)
    for term, truth in planted.items():
        row = c.loc[term]
        assert abs(row.coef - truth) < 4 * row.se, term
        assert abs(row.coef - truth) < 0.25, term  # close in absolute terms, not just in SE units
    # Within-type predictors (context tag, model) are estimated tightly.
    for term in ("tag_prev[IN]", "tag_prev[DT]", "model[micro-m]", "model[micro-l]"):
        assert abs(c.loc[term].coef - planted[term]) < 0.03, term
    assert res.references == {"tag": "NN", "tag_prev": "NN", "model": "micro-s"}
    assert (c["n_obs"] == 20000).all() and res.n_clusters == 300
    assert set(res.coefs["variable"]) == {"intercept", "log_unigram", "tag", "tag_prev", "model"}
    assert (c["ci_low"] < c["coef"]).all() and (c["coef"] < c["ci_high"]).all()


def test_clustered_se_exceed_naive_for_type_level_predictors(sim):
    df, res = sim
    naive = smf.ols(
        "kl ~ log_unigram + C(tag, Treatment('NN')) + C(tag_prev, Treatment('NN'))"
        " + C(model, Treatment('micro-s'))",
        data=df,
    ).fit()
    c = res.coefs.set_index("term")
    # A per-type random effect makes occurrences of a type correlated; type-level predictors
    # then carry far less information than the naive SE assumes.
    assert c.loc["log_unigram", "se"] > 3 * naive.bse["log_unigram"]
    for k in ("VB", "JJ", "DT"):
        assert c.loc[f"tag[{k}]", "se"] > 3 * naive.bse[f"C(tag, Treatment('NN'))[T.{k}]"]
    # Point estimates are the same OLS estimates.
    assert np.isclose(c.loc["log_unigram", "coef"], naive.params["log_unigram"])


def test_text_and_latex(sim):
    _, res = sim
    assert "clustered by target_id (300 clusters)" in res.text
    assert "tag='NN'" in res.text and "model='micro-s'" in res.text
    assert "Merged into OTHER" in res.text
    assert res.latex.startswith(r"\begin{tabular}") and r"\end{tabular}" in res.latex
    assert r"tag\_prev[IN]" in res.latex and "Treatment" not in res.latex


def test_punctuation_tags_and_merging():
    rng = np.random.default_rng(1)
    tags = [".", ",", "``", "''", "-LRB-", "$", ":", "#"]
    n = 3000
    df = pd.DataFrame(
        {
            "kl": rng.normal(0, 1, n),
            "log_unigram": rng.uniform(-10, -3, n),
            "tag": rng.choice(tags, n),
            "tag_prev": rng.choice(tags, n),
            "model": "micro-s",
            "target_id": rng.integers(0, 100, n),
        }
    )
    df.loc[:9, "tag"] = "RARE"  # 10 rows < min_tag_count -> merged
    res = fit_kl_regression(df, tag_reference="''")
    assert res.references == {"tag": "''", "tag_prev": "''"}
    lv = set(res.coefs.loc[res.coefs.variable == "tag", "level"])
    assert lv == (set(tags) - {"''"}) | {"OTHER"}
    assert set(res.coefs.loc[res.coefs.variable == "tag_prev", "level"]) == set(tags) - {"''"}
    assert res.merged == {"tag": ["RARE"], "tag_prev": []}
    assert "tag[``]" in set(res.coefs.term)
    assert r"tag[\$]" in res.latex and r"tag[\textasciigrave{}\textasciigrave{}]" in res.latex
    # Reference absent -> most frequent level, stated in the notes.
    res2 = fit_kl_regression(df, tag_reference="NN")
    assert res2.references["tag"] == df["tag"].value_counts().index[0]
    assert any("absent" in s for s in res2.notes) and "absent" in res2.text


def test_single_model_has_no_model_term():
    df = simulate(n=3000, models=("micro-s",))
    res = fit_kl_regression(df)
    assert "model" not in set(res.coefs.variable) and "model" not in res.references


def test_size_order_sets_reference():
    df = simulate(n=3000)
    res = fit_kl_regression(df, size_order=["micro-l", "micro-m", "micro-s"])
    assert res.references["model"] == "micro-l"
    assert list(res.coefs.loc[res.coefs.variable == "model", "level"]) == ["micro-m", "micro-s"]
    with pytest.raises(UserError, match="size_order"):
        fit_kl_regression(df, size_order=["micro-s"])


def test_bad_inputs_raise_user_error():
    df = simulate(n=500)
    with pytest.raises(UserError, match="no variance"):
        fit_kl_regression(df.assign(kl=1.0))
    with pytest.raises(UserError, match="parameters"):
        fit_kl_regression(df.head(5), min_tag_count=1)
    with pytest.raises(UserError, match="lacks column"):
        fit_kl_regression(df.drop(columns="tag_prev"))


# ---- diagnostics ---------------------------------------------------------------------------------


def test_vif_helper_matches_statsmodels_and_flags_near_duplicates():
    rng = np.random.default_rng(3)
    n = 4000
    x1, x2 = rng.normal(size=n), rng.normal(5, 2, size=n)
    dummy = (rng.random(n) < 0.3).astype(float)
    near = x1 + rng.normal(0, 1e-3, n)  # a near-duplicate of x1
    indep = np.column_stack([np.ones(n), x1, x2, dummy])
    vif = variance_inflation_factors(indep)
    assert np.isnan(vif[0])  # the intercept has none
    assert np.allclose(vif[1:], 1.0, atol=0.02)  # independent regressors: ~1
    collinear = np.column_stack([indep, near])
    vif = variance_inflation_factors(collinear, chunk_rows=777)  # chunking must not matter
    ref = [variance_inflation_factor(collinear, j) for j in range(1, collinear.shape[1])]
    assert np.allclose(vif[1:], ref, rtol=1e-5)
    assert vif[1] > 1e4 and vif[4] > 1e4  # the near-duplicate pair
    assert vif[2] < 1.05 and vif[3] < 1.05  # the others are untouched
    exact = variance_inflation_factors(np.column_stack([indep, x1]))
    assert (
        np.isfinite(exact).sum() == 4 and exact[1] >= 1e12 and exact[4] >= 1e12
    )  # statsmodels' 1e15 cap


def test_fit_reports_diagnostics(sim):
    df, res = sim
    dg = res.diagnostics
    assert dg["n_obs"] == 20000 and dg["n_clusters"] == 300 and dg["steps"] == []
    assert dg["rank"] == dg["n_columns"] == len(res.coefs)
    assert (
        np.isclose(dg["condition_number"], res.fit.condition_number) and dg["condition_number"] > 1
    )
    assert set(dg["max_vif"]) == {"log_unigram", "tag", "tag_prev", "model"}
    # independently drawn regressors: VIFs near 1 (factor dummies a little above: they share rows)
    assert 1 <= dg["max_vif"]["log_unigram"] < 1.2 and all(
        1 <= v < 2 for v in dg["max_vif"].values()
    )
    assert "Intercept" not in dg["vif"] and set(dg["vif"]) == set(res.coefs.term) - {"Intercept"}
    assert "condition number" in res.text and "Max VIF per variable: log_unigram=" in res.text
    # Plant collinearity: the context tag almost determines the model.
    rng = np.random.default_rng(5)
    tied = df.assign(
        tag_prev=np.where(df.model == "micro-m", "IN", np.where(df.model == "micro-l", "DT", "NN"))
    )
    flip = rng.random(len(df)) < 0.02
    tied.loc[flip, "tag_prev"] = rng.choice(list(PREV_EFFECT), flip.sum())
    vif = fit_kl_regression(tied, size_order=list(MODEL_EFFECT)).diagnostics["max_vif"]
    assert vif["model"] > 10 and vif["tag_prev"] > 10 and vif["log_unigram"] < 1.2


# ---- pooled over steps ---------------------------------------------------------------------------

STEP_EFFECT = {
    0: 2.0,
    1: 0.0,
    2: 0.3,
    4: 0.8,
    8: 1.2,
    16: 0.9,
}  # step 0 is odd on purpose: it must be left out


def simulate_steps(
    n_pos=1500,
    n_types=200,
    seed=0,
    models=("micro-s", "micro-m"),
    steps=tuple(STEP_EFFECT),
    step_effect=STEP_EFFECT,
):
    """Fixed token positions (type, context tag) observed at every (model, step); models get the
    effects of MODEL_EFFECT in order, steps those of ``step_effect``."""
    model_effect = dict(zip(models, MODEL_EFFECT.values()))
    rng = np.random.default_rng(seed)
    type_lu = rng.uniform(-12, -4, n_types)
    type_tag = rng.choice(list(TAG_EFFECT), n_types)
    type_re = rng.normal(0, 0.4, n_types)
    t = rng.integers(0, n_types, n_pos)
    prev = rng.choice(list(PREV_EFFECT), n_pos)
    base = (
        INTERCEPT
        + SLOPE * type_lu[t]
        + np.array([TAG_EFFECT[x] for x in type_tag[t]])
        + np.array([PREV_EFFECT[x] for x in prev])
        + type_re[t]
    )
    frames = []
    for m in models:
        for st in steps:
            frames.append(
                pd.DataFrame(
                    {
                        "doc_id": np.arange(n_pos) // 100,
                        "position": np.arange(n_pos) % 100,
                        "kl": base + model_effect[m] + step_effect[st] + rng.normal(0, 0.3, n_pos),
                        "log_unigram": type_lu[t],
                        "tag": type_tag[t],
                        "tag_prev": prev,
                        "model": m,
                        "step": st,
                        "target_id": t,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def pooled_sim():
    df = simulate_steps()
    return df, fit_pooled(df, size_order=["micro-s", "micro-m"])


def test_pooled_step_effects_recovered(pooled_sim):
    df, res = pooled_sim
    c = res.coefs.set_index("term")
    assert res.references["step"] == "1"  # the first pooled step; step 0 is left out
    assert res.diagnostics["steps"] == [1, 2, 4, 8, 16]
    assert res.diagnostics["n_obs"] == (df.step > 0).sum() and res.diagnostics["n_clusters"] == 200
    assert list(res.coefs.loc[res.coefs.variable == "step", "level"]) == [
        "2",
        "4",
        "8",
        "16",
    ]  # numeric order
    for st in (2, 4, 8, 16):
        row = c.loc[f"step[{st}]"]
        truth = STEP_EFFECT[st] - STEP_EFFECT[1]
        assert row.ci_low < truth < row.ci_high, st
        assert abs(row.coef - truth) < 0.03, st  # within-type predictor: tight
    assert abs(c.loc["model[micro-m]"].coef - MODEL_EFFECT["micro-m"]) < 0.03
    assert abs(c.loc["log_unigram"].coef - SLOPE) < 4 * c.loc["log_unigram"].se
    for k in ("VB", "JJ", "DT"):
        assert abs(c.loc[f"tag[{k}]"].coef - TAG_EFFECT[k]) < 4 * c.loc[f"tag[{k}]"].se, k
    dg = res.diagnostics
    assert set(dg["max_vif"]) == {"log_unigram", "tag", "tag_prev", "model", "step"}
    assert dg["max_vif"]["step"] < 2.5 and dg["max_vif"]["model"] < 1.1  # balanced factors
    assert "steps 1..16" in res.text and "rows per step" in res.text


def _dummy_reference(d: pd.DataFrame):
    """The step-effect fit with the step dummies in the design: statsmodels with C(step)."""
    formula = (
        "kl ~ log_unigram + C(tag, Treatment('NN')) + C(tag_prev, Treatment('NN'))"
        " + C(model, Treatment('micro-s')) + C(step, Treatment(1))"
    )
    return smf.ols(formula, data=d).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(d.target_id)[0]}
    )


def _clean(name: str) -> str:
    m = re.match(r"C\((\w+),.*\)\[T\.(.+)\]$", name)
    return f"{m.group(1)}[{m.group(2)}]" if m else name


def test_absorbed_step_effects_equal_dummy_fit():
    """Absorbing the step effects (demeaning within step) reports what the dummy-variable fit does:
    coefficients and step effects, clustered SEs (small-sample factor counting the step columns),
    p-values, intervals, R^2, F, likelihood, condition number, VIFs, the whole summary."""
    steps = tuple(range(1, 41))
    df = simulate_steps(
        n_pos=400,
        models=("micro-s", "micro-m"),
        steps=steps,
        step_effect={s: 0.1 * np.sin(s) for s in steps},
    )
    rng = np.random.default_rng(7)
    keep = rng.random(len(df)) < 0.8  # unbalanced steps, clusters missing from some steps
    keep &= (df.model == "micro-s") | (df.step >= 11)  # models over different steps (as in phases)
    d = df[keep].reset_index(drop=True)
    res = fit_kl_regression(d, size_order=["micro-s", "micro-m"], step_effects=True)
    ref = _dummy_reference(d)
    assert res.diagnostics["n_columns"] == len(ref.params) == 1 + 1 + 3 + 2 + 1 + 39
    got = res.coefs.set_index("term")
    c = pd.DataFrame(
        {"coef": ref.params, "se": ref.bse, "p": ref.pvalues, "lo": ref.conf_int()[0]}
    ).rename(index=_clean)
    assert set(got.index) == set(c.index)
    got = got.loc[c.index]
    np.testing.assert_allclose(got.coef, c.coef, rtol=1e-9, atol=0)
    np.testing.assert_allclose(got.se, c.se, rtol=1e-9, atol=0)
    np.testing.assert_allclose(got.ci_low, c.lo, rtol=1e-9, atol=0)
    # p-values: relative 1e-9; astronomically small ones (z > 7) in log p, since a p-value's
    # relative error is z^2 times that of z
    small, zero = c.p < 1e-12, c.p == 0  # zero: below the smallest double
    np.testing.assert_allclose(got.p_value[~small], c.p[~small], rtol=1e-9, atol=0)
    tiny = small & ~zero
    np.testing.assert_allclose(np.log(got.p_value[tiny]), np.log(c.p[tiny]), rtol=1e-9)
    assert (got.p_value[zero] == 0).all()
    fit = res.fit
    for k in ("rsquared", "rsquared_adj", "fvalue", "f_pvalue", "llf", "aic", "bic", "ssr"):
        assert getattr(fit, k) == pytest.approx(getattr(ref, k), rel=1e-9, abs=0), k
    assert (fit.df_model, fit.df_resid, fit.nobs) == (ref.df_model, ref.df_resid, ref.nobs)
    dg = res.diagnostics
    assert dg["rank"] == ref.model.rank and dg["n_clusters"] == len(np.unique(d.target_id))
    assert dg["condition_number"] == pytest.approx(ref.condition_number, rel=1e-9)
    vif = variance_inflation_factors(ref.model.exog)
    np.testing.assert_allclose(
        [dg["vif"][_clean(n)] for n in ref.model.exog_names[1:]], vif[1:], rtol=1e-9
    )
    np.testing.assert_allclose(fit.resid, ref.resid, rtol=0, atol=1e-10)
    assert [_clean(n) for n in fit.model.exog_names] == list(c.index)  # the dummy fit's order
    assert undated(fit.summary(yname="kl", xname=list(c.index)).as_text()) == undated(
        ref.summary(yname="kl", xname=list(c.index)).as_text()
    )


def test_rare_tags_counted_per_step():
    df = simulate_steps(n_pos=400, steps=(1, 2, 4))
    pos = df.doc_id * 100 + df.position
    df.loc[pos < 10, "tag"] = "RARE"  # 10 positions x 3 steps x 2 models = 60 rows, but 20 per step
    res = fit_pooled(df, min_tag_count=30)
    assert res.merged["tag"] == ["RARE"] and "OTHER" in set(res.coefs.level)


# ---- phases --------------------------------------------------------------------------------------


def phase_table():
    """As lmdyn.divergence.phases.phase_table writes it: per-seed rows (ignored here) and a
    seeds='mean' row (seed NA) per model."""
    rows = [
        {
            "model": "a",
            "seed": 0,
            "seeds": "one",
            "uniform_end": 99.0,
            "contextual_onset": 99.0,
            "last_step": 32.0,
        },
        {
            "model": "a",
            "seed": None,
            "seeds": "mean",
            "uniform_end": 4.0,
            "contextual_onset": 16.0,
            "last_step": 32.0,
        },
        {
            "model": "b",
            "seed": 0,
            "seeds": "one",
            "uniform_end": 0.0,
            "contextual_onset": np.nan,
            "last_step": 32.0,
        },
        {
            "model": "b",
            "seed": None,
            "seeds": "mean",
            "uniform_end": 2.0,
            "contextual_onset": np.nan,
            "last_step": 32.0,
        },
        {
            "model": "c",
            "seed": None,
            "seeds": "mean",
            "uniform_end": 2.83,
            "contextual_onset": 11.3,
            "last_step": 32.0,
        },
    ]
    buf = io.StringIO()
    pd.DataFrame(rows).to_csv(
        buf, index=False
    )  # round trip: the seed comes back as a float with NaN on the mean rows
    return pd.read_csv(io.StringIO(buf.getvalue()))


def test_assign_phases_from_mean_rows():
    steps = [0, 1, 2, 4, 8, 16, 32]
    cells = pd.DataFrame([(m, s) for m in "abc" for s in steps], columns=["model", "step"])
    got = assign_phases(cells, phase_table()).groupby("model").phase.apply(list).to_dict()
    U, G, C = "uniform", "unigram", "contextual"
    assert got["a"] == [U, U, U, U, G, C, C]  # <= uniform_end; in between; >= contextual_onset
    assert got["b"] == [U, U, U, G, G, G, G]  # no contextual onset: unigram to the end
    assert got["c"] == [U, U, U, G, G, C, C]  # fractional change points (means in log space)
    t = phase_table()
    t.loc[(t.model == "a") & (t.seeds == "mean"), "contextual_onset"] = (
        1.0  # onset before uniform_end
    )
    assert assign_phases(cells[cells.model == "a"], t).phase.tolist() == [U, U, U, U, C, C, C]
    with pytest.raises(UserError, match="no seeds='mean' row for model.*: d"):
        assign_phases(pd.DataFrame({"model": ["d"], "step": [1]}), phase_table())
    with pytest.raises(UserError, match="lacks column"):
        assign_phases(cells, phase_table().drop(columns="uniform_end"))
    with pytest.raises(UserError, match="several"):
        assign_phases(cells, pd.concat([phase_table(), phase_table()]))


@pytest.mark.filterwarnings("ignore:omni_normtest")  # the 3-row phase fit before it is discarded
def test_fit_by_phase():
    df = simulate_steps(n_pos=600, models=("a", "b"), steps=(0, 1, 2, 4, 8, 16))
    table = pd.DataFrame(
        {
            "model": ["a", "b"],
            "seeds": ["mean", "mean"],
            "uniform_end": [2.0, 1.0],
            "contextual_onset": [8.0, np.nan],
        }
    )
    fits, cells, notes = fit_by_phase(df, table, size_order=["a", "b"])
    assert 0 not in set(cells.step)
    assert set(fits) == {"uniform", "unigram", "contextual"} and notes == []
    u, g, c = fits["uniform"], fits["unigram"], fits["contextual"]
    assert u.diagnostics["steps"] == [1, 2] and u.references["step"] == "1"
    assert g.diagnostics["steps"] == [2, 4, 8, 16] and g.references["step"] == "2"  # a: 4; b: 2..16
    assert c.diagnostics["steps"] == [8, 16] and "model" not in c.references  # only model a
    assert (
        abs(g.coefs.set_index("term").loc["step[8]"].coef - (STEP_EFFECT[8] - STEP_EFFECT[2]))
        < 0.05
    )
    assert (
        abs(c.coefs.set_index("term").loc["step[16]"].coef - (STEP_EFFECT[16] - STEP_EFFECT[8]))
        < 0.05
    )
    assert u.diagnostics["n_obs"] == 600 * 3 and "step" in u.diagnostics["max_vif"]

    # Models with no step in common inside a phase: model and step dummies would be collinear.
    disjoint = table.assign(
        uniform_end=[1.0, 2.0], contextual_onset=[4.0, 8.0]
    )  # unigram: a {2}, b {4}
    fits, _, _ = fit_by_phase(df, disjoint, size_order=["a", "b"])
    g = fits["unigram"]
    assert "model" not in g.references and any("not identified" in n for n in g.notes)
    assert g.diagnostics["rank"] == g.diagnostics["n_columns"]

    # A phase with too few rows is skipped with a note; a phase with no steps too.
    few = df[
        (df.step != 16) & ((df.step != 8) | (df.doc_id * 100 + df.position < 3))
    ]  # contextual: 3 rows
    fits, _, notes = fit_by_phase(
        few, table.assign(contextual_onset=[8.0, np.nan]), size_order=["a", "b"]
    )
    assert set(fits) == {"uniform", "unigram"}
    assert any(n.startswith("phase contextual: skipped") and "too few rows (3)" in n for n in notes)
    few = df[
        (df.step != 16) & ((df.step != 8) | (df.doc_id * 100 + df.position < 2))
    ]  # 2 rows < parameters
    _, _, notes = fit_by_phase(few, table.assign(contextual_onset=[8.0, np.nan]), min_tag_count=1)
    assert any(
        n.startswith("phase contextual: skipped (2 rows)") and "parameters" in n for n in notes
    )
    none = table.assign(uniform_end=[20.0, 20.0])
    fits, _, notes = fit_by_phase(df, none, size_order=["a", "b"])
    assert set(fits) == {"uniform"} and any("phase unigram: no steps" in n for n in notes)


def test_sample_positions_fixed_and_shared():
    keys = pd.DataFrame(
        {"doc_id": np.repeat(np.arange(50), 20), "position": np.tile(np.arange(20), 50)}
    )
    a = sample_positions(keys, 100, seed=0)
    b = sample_positions(
        keys.sample(frac=1, random_state=1), 100, seed=0
    )  # row order must not matter
    assert len(a) == 100 and not a.duplicated().any()
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(sample_positions(keys, 100, seed=1))
    assert sample_positions(keys, None) is None and sample_positions(keys, 10_000) is None


# ---- the rule script on tiny files ---------------------------------------------------------------


def test_rule_script_writes_every_fit(tmp_path):
    models, steps = ["a", "b"], [0, 1, 2, 4, 8]
    df = simulate_steps(n_pos=500, n_types=120, models=models, steps=steps)
    feats = df[(df.model == "a") & (df.step == 0)][
        ["doc_id", "position", "target_id", "log_unigram", "tag", "tag_prev"]
    ]
    feats.to_parquet(tmp_path / "features.parquet")
    values = []
    for m in models:
        for st in steps:
            v = df[(df.model == m) & (df.step == st)]
            path = tmp_path / f"{m}/seeds_step{st}.parquet"
            path.parent.mkdir(exist_ok=True)
            # one seed pair whose symmetric KL is the simulated value
            v[["doc_id", "position"]].assign(
                model=m, seed_a=0, seed_b=1, kl_ab=v.kl + 0.1, kl_ba=v.kl - 0.1
            ).to_parquet(path)
            values.append({"model": m, "step": st, "seed": None, "path": str(path)})
    pd.DataFrame(
        {
            "model": models,
            "seed": [None] * 2,
            "seeds": ["mean"] * 2,
            "uniform_end": [2.0, 1.0],
            "contextual_onset": [8.0, np.nan],
            "last_step": [8.0, 8.0],
        }
    ).to_csv(tmp_path / "ph.csv", index=False)
    # the files of the rule (the writer checks its paths against the table specs)
    res = tmp_path / "results/regression/s"
    res.mkdir(parents=True)
    out = {
        k: str(res / name)
        for k, name in (
            ("coefs", "coefficients.csv"),
            ("latex", "coefficients.tex"),
            ("text", "summary.txt"),
            ("pooled", "pooled.csv"),
            ("phases", "phases.csv"),
        )
    }

    class Named(list):
        def __init__(self, items, **named):
            super().__init__(items)
            self.__dict__.update(named)

        def __getitem__(self, k):
            return self.__dict__[k] if isinstance(k, str) else list.__getitem__(self, k)

    sm = types.SimpleNamespace(
        input=Named(
            [],
            features=str(tmp_path / "features.parquet"),
            values=[v["path"] for v in values],
            phases=str(tmp_path / "ph.csv"),
        ),
        output=Named(list(out.values()), **out),
        log=[str(tmp_path / "log")],
        rule="regression",
        threads=1,
        params=types.SimpleNamespace(
            metric="kl_seeds",
            wanted_metric="kl_seeds",
            step=8,
            files=values,
            models=models,
            tag_reference="NN",
            min_tag_count=5,
            tokens_per_step=300,
        ),
    )
    script = Path(__file__).resolve().parents[1] / "scripts" / "regression.py"
    runpy.run_path(str(script), init_globals={"snakemake": sm})

    coefs = pd.read_csv(out["coefs"], keep_default_na=False, na_values=[""])
    cols = [
        "term",
        "variable",
        "level",
        "coef",
        "se",
        "ci_low",
        "ci_high",
        "p_value",
        "n_obs",
        "response",
        "step",
    ]
    assert list(coefs.columns) == cols and (coefs.step == 8).all() and (coefs.n_obs == 1000).all()
    pooled = pd.read_csv(out["pooled"], keep_default_na=False, na_values=[""])
    assert list(pooled.columns) == cols + ["fit", "n_steps", "first_step", "last_step"]
    assert (pooled.fit == "pooled").all() and pooled.step.isna().all()
    assert str(pd.read_parquet(res / "pooled.parquet").step.dtype) == "Int64"  # an integer key, NA
    assert (pooled.n_obs == 300 * 2 * 4).all()  # tokens_per_step x models x steps > 0
    assert {"step[2]", "step[4]", "step[8]", "model[b]"} <= set(pooled.term)
    phases = pd.read_csv(out["phases"], keep_default_na=False, na_values=[""])
    assert list(phases.columns) == list(pooled.columns)
    assert set(phases.fit) == {"uniform", "unigram", "contextual"}
    text = Path(out["text"]).read_text()
    assert text.startswith("Response: kl_seeds (nats) per predicted token at step 8")
    assert text.count("Max VIF per variable") == 5 and text.count("condition number") == 5
    assert (
        "300 token positions per step" in text
        and "a: uniform 1, 2; unigram 4; contextual 8" in text
    )
