"""Embedding anisotropy against float64 numpy, and a planted common offset."""

import numpy as np
import pytest

from lmdyn.anisotropy.compute import anisotropy, sample_rows


def numpy_reference(E, idx, centre):
    E = np.asarray(E, np.float64)
    X = (E - E.mean(0))[idx] if centre else E[idx]
    N = X / np.linalg.norm(X, axis=1, keepdims=True)
    C = N @ N.T
    return C[np.triu_indices(len(idx), 1)]


@pytest.mark.parametrize("V,sample", [(400, 5000), (900, 300)])
def test_statistics_match_float64_numpy(rng, V, sample):
    E = (rng.normal(size=(V, 24)) + rng.normal(size=24)).astype(np.float32)
    rows, hist = anisotropy(E, sample=sample, seed=7, bins=40)
    idx = sample_rows(V, sample, 7)
    assert len(idx) == min(V, sample) and len(set(idx)) == len(idx)
    for row in rows:
        ref = numpy_reference(E, idx, row["variant"] == "centred")
        assert row["n_pairs"] == len(ref)
        assert row["mean_cos"] == pytest.approx(ref.mean(), abs=1e-6)
        assert row["std_cos"] == pytest.approx(ref.std(), abs=1e-6)
        for q, key in ((0.05, "q05_cos"), (0.5, "q50_cos"), (0.95, "q95_cos")):
            assert row[key] == pytest.approx(np.quantile(ref, q), abs=1e-5)
        counts = hist[hist.variant == row["variant"]]["count"].to_numpy()
        ref_counts, _ = np.histogram(ref, bins=np.linspace(-1, 1, 41))
        assert (
            counts.sum() == len(ref) and np.abs(counts - ref_counts).sum() <= 2
        )  # float32 vs float64 at edges
    E64 = E.astype(np.float64)
    m = E64.mean(0)
    assert rows[0]["mean_norm_ratio"] == pytest.approx(
        np.linalg.norm(m) / np.linalg.norm(E64, axis=1).mean(), rel=1e-6
    )
    cos_m = E64 @ m / (np.linalg.norm(E64, axis=1) * np.linalg.norm(m))
    assert rows[0]["median_cos_to_mean"] == pytest.approx(np.median(cos_m), rel=1e-6)


def test_planted_common_offset_gives_predicted_cosine_and_centring_removes_it(rng):
    V, d, sigma = 3000, 256, 1.0
    c = rng.normal(size=d)
    c *= 1.5 * np.sqrt(d) / np.linalg.norm(c)  # |c|^2 = 2.25 d against a noise norm^2 of about d
    E = c + sigma * rng.normal(size=(V, d))
    rows, _ = anisotropy(E, sample=1000, seed=0)
    raw, centred = rows
    predicted = 2.25 / (2.25 + sigma**2)  # cos = |c|^2 / (|c|^2 + sigma^2 d) for large d
    assert raw["mean_cos"] == pytest.approx(predicted, abs=0.01)
    assert abs(centred["mean_cos"]) < 0.01 and centred["std_cos"] == pytest.approx(
        1 / np.sqrt(d), rel=0.1
    )
    assert raw["median_cos_to_mean"] > 0.8 and raw["mean_norm_ratio"] == pytest.approx(
        1.5 / np.sqrt(1 + 2.25), rel=0.02
    )
    # no offset: near zero already
    rows0, _ = anisotropy(sigma * rng.normal(size=(V, d)), sample=1000, seed=0)
    assert abs(rows0[0]["mean_cos"]) < 0.01
