"""Study tables on synthetic per-token data with planted structure."""

import numpy as np
import pandas as pd
import pytest

from lmdyn.core.tables import validate
from lmdyn.divergence.study import ModelStudy, with_keys, word_class
from lmdyn.divergence.tables import STUDY_MODEL


def test_word_classes():
    tags = pd.Series(["NN", "NNPS", "VBG", "VBN", "VBD", "VB", "DT", "_SP"])
    assert list(word_class(tags)) == [
        "noun",
        "noun",
        "VBG",
        "VBN",
        "verb",
        "verb",
        "other",
        "other",
    ]


def synthetic(rng, n_docs=40, per_doc=50):
    n = n_docs * per_doc
    feats = pd.DataFrame(
        {
            "doc_id": np.repeat(np.arange(n_docs), per_doc),
            "position": np.tile(np.arange(1, per_doc + 1), n_docs),
        }
    )
    feats["tag"] = rng.choice(["NN", "DT", "VBZ"], n)
    feats["tag_prev"] = rng.choice(["NN", "DT", "VBZ"], n)
    feats["freq_bin"] = rng.integers(0, 3, n)
    feats["word"] = "w"
    feats["bow"] = True
    return feats


def test_planted_subgroup_divergence_is_recovered(rng):
    feats = synthetic(rng)
    n = len(feats)
    study = ModelStudy(feats, n_boot=200)
    doc_effect = rng.normal(0, 0.1, 40)[feats.doc_id]
    for step, scale in ((0, 0.1), (10, 1.0)):
        metrics = {
            s: feats[["doc_id", "position"]].assign(
                target_id=0,
                nll=5.0 - step / 10 + rng.normal(0, 0.01, n),
                entropy=1.0,
                kl_uniform=0.1,
                kl_unigram=1.0,
            )
            for s in (0, 1)
        }
        # NN tokens diverge 3x more than the rest across seeds: planted sigma(NN) = 3 / mean
        base = scale * (1 + doc_effect) * np.where(feats.tag == "NN", 3.0, 1.0)
        pairs = feats[["doc_id", "position"]].assign(seed_a=0, seed_b=1, kl_ab=base, kl_ba=base)
        steps = feats[["doc_id", "position"]].assign(
            seed=0, step_a=0, step_b=step, kl_ab=base, kl_ba=base
        )
        study.add_step(step, metrics, pairs, steps if step else steps.iloc[:0])
    t = study.tables()
    sig = t["sigma"][
        (t["sigma"].step == 10) & (t["sigma"].metric == "kl_seeds") & (t["sigma"].grouping == "tag")
    ]
    nn = sig[sig.group == "NN"].iloc[0]
    share = (feats.tag == "NN").mean()
    expected = 3.0 / (3.0 * share + (1 - share))
    assert nn.ci_low < expected < nn.ci_high and nn.excludes_one
    c = t["curves"][(t["curves"].metric == "kl_seeds")].set_index("step")["mean"]
    assert c[10] == pytest.approx(base.mean(), rel=1e-9)
    groups = t["seed_groups"]
    g = groups[
        (groups.step == 10) & (groups.grouping == "class") & (groups.direction == "mean")
    ].set_index("group")
    assert g.loc["noun", "mean"] / g.loc["other", "mean"] == pytest.approx(3.0, rel=0.1)
    assert set(t["ce_fit"].form) == {"difference", "ratio"}
    # two steps: no line to test, so no slope is reported
    assert (t["ce_fit"].degenerate != "").all() and t["ce_fit"].alpha.isna().all()
    # what model_tables writes: each table with its keys, as declared
    for spec in STUDY_MODEL:
        validate(spec, with_keys(t[spec.name.split(".")[1]], spec, "suite", "m"))
    one_seed = ModelStudy(feats, n_boot=10)
    one_seed.add_step(0, {0: metrics[0]}, pairs.iloc[:0], steps.iloc[:0])
    for spec in STUDY_MODEL:  # no seed pairs: empty tables keep their declared columns
        table = with_keys(one_seed.tables()[spec.name.split(".")[1]], spec, "suite", "m")
        validate(spec, table)
        assert list(table.columns) == spec.names


def test_ce_fit_points_are_the_trajectory_fits_with_document_intervals(rng):
    from lmdyn.core.stats import fit_trajectory

    feats = synthetic(rng)
    n = len(feats)
    study = ModelStudy(feats, n_boot=300, seed=3)
    doc = rng.normal(0, 0.2, 40)[feats.doc_id]
    for step in (0, 4, 16, 64, 256):
        nll = 7.5 - np.log2(step + 1) / 3 + doc + rng.normal(0, 0.05, n)
        metrics = {
            s: feats[["doc_id", "position"]].assign(
                target_id=0, nll=nll, entropy=1.0, kl_uniform=0.1, kl_unigram=1.0
            )
            for s in (0, 1)
        }
        kl = 0.5 + 0.2 * (7.5 - nll) + rng.normal(0, 0.02, n)
        pairs = feats[["doc_id", "position"]].assign(seed_a=0, seed_b=1, kl_ab=kl, kl_ba=kl)
        study.add_step(step, metrics, pairs, pairs.iloc[:0])
    t = study.tables()
    fits, traj = t["ce_fit"], t["trajectories"]
    assert len(fits) == 2 * traj.groupby(["grouping", "group"]).ngroups
    for r in fits.itertuples():
        g = traj[(traj.grouping == r.grouping) & (traj.group == r.group)].sort_values("step")
        want = fit_trajectory(g.kl_seeds.to_numpy(), g.nll.to_numpy(), form=r.form)
        assert r.r2 == pytest.approx(want["r2"], rel=1e-9)
        if r.degenerate:
            assert np.isnan(r.alpha) and np.isnan(r.b)
            continue
        assert r.alpha == pytest.approx(want["alpha"], rel=1e-9)
        assert r.b == pytest.approx(want["b"], rel=1e-9)
        assert r.alpha_low <= r.alpha <= r.alpha_high and r.b_low <= r.b <= r.b_high
    diff = fits[fits.form == "difference"]
    assert (diff.degenerate == "").all() and diff.alpha.between(-0.3, -0.1).all()
    assert study.tables()["ce_fit"].equals(fits)  # the same draws every time
