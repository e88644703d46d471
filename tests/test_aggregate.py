"""Aggregates and relative divergence on hand-computed tables."""

import numpy as np
import pandas as pd
import pytest

from lmdyn.core.tables import validate
from lmdyn.divergence.aggregate import (
    ModelAggregate,
    aggregate_model,
    seed_pair_by_seed,
    seed_pair_tokens,
)
from lmdyn.divergence.tables import BREAKDOWN_MODEL, SUMMARY_MODEL


def write(tmp_path, name, df):
    p = tmp_path / f"{name}.parquet"
    df.to_parquet(p)
    return str(p)


def test_seed_pair_means():
    pairs = pd.DataFrame(
        {
            "doc_id": 0,
            "position": [1, 1, 1, 2, 2, 2],
            "seed_a": [0, 0, 1] * 2,
            "seed_b": [1, 2, 2] * 2,
            "kl_ab": [1.0, 2, 3, 4, 5, 6],
            "kl_ba": [3.0, 2, 1, 6, 5, 4],
        }
    )
    tok = seed_pair_tokens(pairs)
    assert list(tok.kl_seeds) == [2.0, 5.0]
    by_seed = seed_pair_by_seed(pairs)
    # seed 0 pairs: (0,1) sym 2 and 5; (0,2) sym 2 and 5 -> 3.5
    assert by_seed[0] == pytest.approx(3.5) and by_seed[2] == pytest.approx(3.5)


def test_sigma_is_subgroup_over_overall(tmp_path):
    feats = pd.DataFrame(
        {
            "doc_id": 0,
            "position": [1, 2, 3, 4],
            "tag": ["NN", "NN", "DT", "DT"],
            "tag_prev": ["DT", "NN", "NN", "DT"],
            "freq_bin": [0, 0, 1, 1],
            "bow": True,
            "eow": [True, False, True, False],
        }
    )
    m = pd.DataFrame(
        {
            "doc_id": 0,
            "position": [1, 2, 3, 4],
            "target_id": 0,
            "nll": [1.0, 3.0, 2.0, 2.0],
            "entropy": 1.0,
            "kl_uniform": 0.5,
            "kl_unigram": [4.0, 4.0, 1.0, 3.0],
        }
    )
    empty_pairs = pd.DataFrame(columns=["doc_id", "position", "seed_a", "seed_b", "kl_ab", "kl_ba"])
    summary, bd = aggregate_model(
        "s",
        "m",
        feats,
        {(0, 0): write(tmp_path, "m", m)},
        {0: write(tmp_path, "p", empty_pairs)},
        {0: write(tmp_path, "q", empty_pairs)},
    )
    assert summary.loc[0, "nll"] == pytest.approx(2.0) and summary.loc[
        0, "kl_unigram"
    ] == pytest.approx(3.0)
    row = bd[(bd.metric == "kl_unigram") & (bd.grouping == "tag") & (bd.group == "DT")].iloc[0]
    assert (
        row["mean"] == pytest.approx(2.0)
        and row.sigma == pytest.approx(2.0 / 3.0)
        and row.n_tokens == 2
    )
    row = bd[(bd.metric == "nll") & (bd.grouping == "eow") & (bd.group == "False")].iloc[0]
    assert row.sigma == pytest.approx(2.5 / 2.0)
    assert np.isnan(summary.loc[0, "kl_seeds"])
    validate(SUMMARY_MODEL, summary)  # as declared
    validate(BREAKDOWN_MODEL, bd)
    assert set(bd.seeds) == {"one"} and bd.seed.notna().all()  # no seed pairs: no mean rows


def test_seed_pair_rows_are_marked_as_over_all_seeds():
    """kl_seeds rows of the breakdown have no seed of their own: seed NA, seeds == "mean"."""
    feats = pd.DataFrame(
        {
            "doc_id": 0,
            "position": [1, 2],
            "tag": ["NN", "DT"],
            "tag_prev": ["DT", "NN"],
            "freq_bin": [0, 1],
            "bow": True,
            "eow": True,
        }
    )
    metrics = {
        seed: pd.DataFrame(
            {
                "doc_id": 0,
                "position": [1, 2],
                "target_id": 0,
                "nll": [1.0, 2.0],
                "entropy": 1.0,
                "kl_uniform": 0.5,
                "kl_unigram": 1.0,
            }
        )
        for seed in (0, 1)
    }
    pairs = pd.DataFrame(
        {"doc_id": 0, "position": [1, 2], "seed_a": 0, "seed_b": 1, "kl_ab": 1.0, "kl_ba": 3.0}
    )
    agg = ModelAggregate("s", "m", feats)
    agg.add_step(4, metrics, pairs, pairs.iloc[:0])
    summary, bd = agg.tables()
    validate(SUMMARY_MODEL, summary)
    validate(BREAKDOWN_MODEL, bd)
    pooled = bd.metric == "kl_seeds"
    assert pooled.any() and (bd.seeds == np.where(pooled, "mean", "one")).all()
    assert bd.seed[pooled].isna().all() and set(bd.seed[~pooled]) == {0, 1}
    assert str(bd.seed.dtype) == "Int64"
    assert bd[pooled & (bd.grouping == "tag")]["mean"].tolist() == [2.0, 2.0]
