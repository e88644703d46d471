"""Tests for lmdyn.regression: planted-coefficient recovery on data simulated here, clustering,
odd tag names, and input checks."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from lmdyn.errors import UserError
from lmdyn.regression import fit_kl_regression

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
    kl = (INTERCEPT + SLOPE * type_lu[t] + np.array([TAG_EFFECT[x] for x in type_tag[t]])
          + np.array([PREV_EFFECT[x] for x in prev]) + np.array([MODEL_EFFECT[m] for m in model])
          + type_re[t] + rng.normal(0, noise_sd, n))
    return pd.DataFrame({"kl": kl, "log_unigram": type_lu[t], "tag": type_tag[t], "tag_prev": prev,
                         "model": model, "target_id": t})


@pytest.fixture(scope="module")
def sim():
    df = simulate()
    return df, fit_kl_regression(df, size_order=list(MODEL_EFFECT))


def test_planted_coefficients_recovered(sim):
    _, res = sim
    c = res.coefs.set_index("term")
    planted = {"Intercept": INTERCEPT, "log_unigram": SLOPE,
               **{f"tag[{k}]": v for k, v in TAG_EFFECT.items() if k != "NN"},
               **{f"tag_prev[{k}]": v for k, v in PREV_EFFECT.items() if k != "NN"},
               **{f"model[{k}]": v for k, v in MODEL_EFFECT.items() if k != "micro-s"}}
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
    naive = smf.ols("kl ~ log_unigram + C(tag, Treatment('NN')) + C(tag_prev, Treatment('NN'))"
                    " + C(model, Treatment('micro-s'))", data=df).fit()
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
    df = pd.DataFrame({
        "kl": rng.normal(0, 1, n), "log_unigram": rng.uniform(-10, -3, n),
        "tag": rng.choice(tags, n), "tag_prev": rng.choice(tags, n),
        "model": "micro-s", "target_id": rng.integers(0, 100, n)})
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
