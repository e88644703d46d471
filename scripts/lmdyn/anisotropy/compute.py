"""Embedding anisotropy ("Mech Interp Puzzle 1", 2023): how alike the rows of W_E (or W_U) point.

For a seeded sample of rows (every row when V <= sample): the pairwise cosine similarities of
distinct rows (each unordered pair once) summarised by mean, standard deviation, 5/50/95% quantiles
and a fixed-bin histogram on [-1, 1]; the same after centring, i.e. subtracting the mean row over
all V tokens (not TransformerLens' per-row centring over d_model); and, for the raw matrix, the norm
of the mean row over the mean row norm and the median cosine of a row with the mean row.
Raw transformers weights, float32 products, float64 sums.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

QUANTILES = (0.05, 0.5, 0.95)


def sample_rows(V: int, sample: int, seed: int) -> np.ndarray:
    """Sorted row indices: a seeded sample without replacement, or every row when V <= sample."""
    if V <= sample:
        return np.arange(V)
    return np.sort(np.random.default_rng(seed).choice(V, size=sample, replace=False))


def pair_cosines(X: torch.Tensor, block: int = 1024) -> np.ndarray:
    """Cosine of every unordered pair of distinct rows (upper triangle, row-major), float32.

    Row blocks against the rows from the block on: about half the products of a full Gram matrix.
    """
    X = X.to(torch.float32)
    N = X / X.norm(dim=1, keepdim=True).clamp_min(1e-30)
    n = len(N)
    out = np.empty(n * (n - 1) // 2, dtype=np.float32)
    pos = 0
    for a in range(0, n, block):
        blk = (N[a : a + block] @ N[a:].T).clamp_(-1.0, 1.0).numpy()
        for r in range(len(blk)):
            row = blk[r, r + 1 :]
            out[pos : pos + len(row)] = row
            pos += len(row)
    return out


def summarise_cosines(vals: np.ndarray, bins: int) -> tuple[dict, np.ndarray]:
    """(mean, std, quantiles) and the counts in ``bins`` equal bins on [-1, 1]."""
    mean = float(np.mean(vals, dtype=np.float64))
    var = float(np.var(vals, dtype=np.float64))
    q = np.quantile(vals, QUANTILES)
    counts, _ = np.histogram(vals, bins=bins, range=(-1.0, 1.0))  # equal bins: the fast path
    stats = {"n_pairs": len(vals), "mean_cos": mean, "std_cos": var**0.5}
    stats.update({f"q{round(100 * p):02d}_cos": float(v) for p, v in zip(QUANTILES, q)})
    return stats, counts


def anisotropy(
    E, sample: int = 5000, seed: int = 0, bins: int = 100
) -> tuple[list[dict], pd.DataFrame]:
    """Rows for variant raw and centred of one matrix [V, d], and their histograms (long table).

    Matrix-level columns (mean_norm_ratio, median_cos_to_mean) describe the raw matrix and repeat on
    both rows; n_rows is the sample size.
    """
    E = torch.as_tensor(np.asarray(E)).to(torch.float32)
    V = E.shape[0]
    idx = torch.from_numpy(sample_rows(V, sample, seed))
    # float32 products with float64 sums: a float64 copy of a [50k, d] matrix costs more than the rest
    mean_row = E.sum(0, dtype=torch.float64) / V
    norms = E.norm(dim=1).double()
    cos_to_mean = (E @ mean_row.float()).double() / (
        norms.clamp_min(1e-300) * float(mean_row.norm()) + 1e-300
    )
    matrix = {
        "n_tokens": V,
        "n_rows": len(idx),
        "mean_norm_ratio": float(mean_row.norm() / norms.mean()),
        "median_cos_to_mean": float(np.median(cos_to_mean.numpy())),
    }
    rows, hists = [], []
    edges = np.linspace(-1.0, 1.0, bins + 1)
    for variant, X in (("raw", E[idx]), ("centred", E[idx].double() - mean_row)):
        stats, counts = summarise_cosines(pair_cosines(X), bins)
        rows.append({"variant": variant, **stats, **matrix})
        hists.append(
            pd.DataFrame(
                {
                    "variant": variant,
                    "bin": np.arange(bins),
                    "lo": edges[:-1],
                    "hi": edges[1:],
                    "count": counts.astype(np.int64),
                }
            )
        )
    return rows, pd.concat(hists, ignore_index=True)
