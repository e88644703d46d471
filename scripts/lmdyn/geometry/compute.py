"""Layer geometry: hidden-state norms per layer, PCA by layer, and a classifier that predicts the layer.

States are the residual stream of every layer at the first ``L`` tokens of ``N`` sampled evaluation
windows (no BOS): class 0 is the embedding output (token + positional embeddings, ``hook_embed``),
class ``l`` (1..n_layers) the output of block ``l - 1`` (``blocks.{l-1}.hook_resid_post``, before the
final norm). They are held as one float32 array ``states[C, N, L, d]`` (C = n_layers + 1) with the
document id of every window, ``docs[N]``.

The classifier is scikit-learn's multinomial LogisticRegression (lbfgs, L2, C=1) on standardised
inputs. Accuracies are held out: split by document (no document, hence no window, in both train and
test; the honest number) and, for comparison with the original, split by vector (windows of one
document land on both sides). Every accuracy carries a percentile interval from a bootstrap over
the documents of its test set; chance is 1 / C (classes are balanced by construction).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmdyn.core.errors import UserError
from lmdyn.core.stats import bootstrap_mean
from lmdyn.geometry.states import layer_names


def layer_norms(states: np.ndarray) -> pd.DataFrame:
    """Per layer: minimum, mean and maximum L2 norm of the states (and their count)."""
    C = states.shape[0]
    norms = np.linalg.norm(states.reshape(C, -1, states.shape[-1]).astype(np.float64), axis=-1)
    return pd.DataFrame(
        {
            "layer": np.arange(C),
            "name": layer_names(C - 1),
            "norm_min": norms.min(1),
            "norm_mean": norms.mean(1),
            "norm_max": norms.max(1),
            "n": norms.shape[1],
        }
    )


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def pca_by_layer(states: np.ndarray, n_points: int = 200, max_fit: int = 20000, seed: int = 0):
    """PCA of all layers' states in one basis, raw and with every vector unit-normalised.

    The basis is fitted (SVD of the centred vectors, float64) on at most ``max_fit`` vectors drawn
    evenly from every layer; the points returned are ``n_points`` per layer. Returns
    (points: layer, name, normalised, pc1, pc2; variance: normalised, component, explained_ratio).
    """
    C, d = states.shape[0], states.shape[-1]
    flat = states.reshape(C, -1, d)
    m = flat.shape[1]
    rng = np.random.default_rng(seed)
    fit_idx = np.sort(rng.choice(m, size=min(m, max(1, max_fit // C)), replace=False))
    show_idx = np.sort(rng.choice(m, size=min(m, n_points), replace=False))
    names = layer_names(C - 1)
    points, var = [], []
    for normalised in (False, True):
        fit = flat[:, fit_idx].reshape(-1, d).astype(np.float64)
        show = flat[:, show_idx].reshape(-1, d).astype(np.float64)
        if normalised:
            fit, show = _unit(fit), _unit(show)
        mu = fit.mean(0)
        _, s, vt = np.linalg.svd(fit - mu, full_matrices=False)
        ratio = s**2 / max((s**2).sum(), 1e-300)
        proj = (show - mu) @ vt[:2].T
        if proj.shape[1] < 2:
            proj = np.column_stack([proj, np.zeros(len(proj))])
        layer = np.repeat(np.arange(C), len(show_idx))
        points.append(
            pd.DataFrame(
                {
                    "layer": layer,
                    "name": np.asarray(names)[layer],
                    "normalised": normalised,
                    "pc1": proj[:, 0],
                    "pc2": proj[:, 1],
                }
            )
        )
        k = min(10, len(ratio))
        var.append(
            pd.DataFrame(
                {
                    "normalised": normalised,
                    "component": np.arange(1, k + 1),
                    "explained_ratio": ratio[:k],
                }
            )
        )
    return pd.concat(points, ignore_index=True), pd.concat(var, ignore_index=True)


def flatten(states: np.ndarray, docs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X [C*N*L, d], layer label, document id) in the order class, window, token."""
    C, N, L, d = states.shape
    X = states.reshape(-1, d)
    y = np.repeat(np.arange(C), N * L)
    g = np.tile(np.repeat(np.asarray(docs), L), C)
    return X, y, g


def document_split(groups, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/test row indices with no document on both sides (scikit-learn GroupShuffleSplit)."""
    from sklearn.model_selection import GroupShuffleSplit

    groups = np.asarray(groups)
    if np.unique(groups).size < 2:
        raise UserError(
            "geometry: the document split needs windows from at least 2 documents; raise geometry.n_windows"
        )
    split = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    tr, te = next(split.split(np.zeros(len(groups)), groups=groups))
    return np.sort(tr), np.sort(te)


def vector_split(n: int, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The original's split: individual vectors, so windows of one document land on both sides."""
    perm = np.random.default_rng(seed).permutation(n)
    k = max(1, int(round(n * test_size)))
    return np.sort(perm[k:]), np.sort(perm[:k])


def fit_classifier(X: np.ndarray, y: np.ndarray, max_iter: int = 200, seed: int = 0):
    """Standardise, then multinomial logistic regression (lbfgs, L2, C = 1)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=max_iter, tol=1e-4, random_state=seed)
    )
    with warnings.catch_warnings():
        # A capped lbfgs run is still a valid (slightly under-fitted) classifier; its test accuracy is what we report.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    return clf


def _score(clf, X, y, groups, n_boot, ci, seed) -> dict:
    correct = (clf.predict(X) == y).astype(np.float64)
    r = bootstrap_mean(correct, groups, n_boot=n_boot, ci=ci, seed=seed)
    return dict(
        accuracy=r["mean"],
        ci_low=r["ci_low"],
        ci_high=r["ci_high"],
        n_test=r["n"],
        n_test_docs=r["n_clusters"],
    )


def random_control(states: np.ndarray, seed: int) -> np.ndarray:
    """Random directions with each layer's norm distribution (norms resampled within the layer)."""
    C, d = states.shape[0], states.shape[-1]
    rng = np.random.default_rng(seed)
    flat = states.reshape(C, -1, d)
    norms = np.linalg.norm(flat, axis=-1)
    out = np.empty_like(flat)
    for c in range(C):
        dirs = _unit(rng.standard_normal((flat.shape[1], d)))
        out[c] = dirs * rng.choice(norms[c], size=flat.shape[1], replace=True)[:, None]
    return out.reshape(states.shape).astype(np.float32)


def layer_classifier(
    states: np.ndarray,
    docs,
    transfer: tuple[np.ndarray, np.ndarray] | None = None,
    lengths: list[int] | None = None,
    test_size: float = 0.2,
    n_boot: int = 1000,
    ci: float = 0.95,
    max_iter: int = 200,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Held-out accuracy of the layer classifier in every variant, and per-dimension attribution.

    ``transfer`` = (states, docs) of a second corpus from the same checkpoint. ``lengths``: token
    counts L' <= L for accuracy against L (document split, first L' tokens of every window).
    Returns {"accuracy": rows (variant, split, n_tokens, accuracy, ci_low, ci_high, chance, n_train,
    n_test, n_test_docs, n_classes), "attribution": rows (dimension, share, rank, cumulative_share)}.
    Variants: raw (document and vector split), normalised (unit vectors, document split),
    control (random vectors, document split), transfer (raw classifier on the second corpus),
    length (raw, document split, first L' tokens).
    """
    C = states.shape[0]
    if C < 2:
        raise UserError(
            "geometry: the layer classifier needs at least 2 classes (embedding + 1 block)"
        )
    X, y, g = flatten(states, docs)
    tr, te = document_split(g, test_size, seed)
    rows = []

    def add(variant, split, n_tokens, clf, Xte, yte, gte, n_train, k):
        r = _score(clf, Xte, yte, gte, n_boot, ci, np.random.SeedSequence([seed, k]))
        rows.append(
            dict(
                variant=variant,
                split=split,
                n_tokens=n_tokens,
                **r,
                chance=1.0 / C,
                n_train=n_train,
                n_classes=C,
            )
        )

    raw = _main_variants(add, states, docs, (X, y, g), (tr, te), test_size, max_iter, seed)
    if transfer is not None:
        _transfer_variant(add, raw, transfer, states, len(tr))
    _length_variants(add, states, docs, lengths, test_size, max_iter, seed)
    if lengths:  # the full length L belongs to the length curve too: the raw document-split row
        r = rows[0].copy()
        r["variant"] = "length"
        rows.append(r)
    return {"accuracy": pd.DataFrame(rows), "attribution": _attribution(raw)}


def _main_variants(add, states, docs, data, split, test_size, max_iter, seed):
    """raw (document and vector split), normalised and control on the main states; the raw
    document-split classifier is returned (transfer and attribution reuse it)."""
    (X, y, g), (tr, te), L = data, split, states.shape[2]
    raw = fit_classifier(X[tr], y[tr], max_iter, seed)
    add("raw", "document", L, raw, X[te], y[te], g[te], len(tr), 0)
    vtr, vte = vector_split(len(y), test_size, seed)
    vec = fit_classifier(X[vtr], y[vtr], max_iter, seed)
    add("raw", "vector", L, vec, X[vte], y[vte], g[vte], len(vtr), 1)
    Xu = _unit(X)
    uni = fit_classifier(Xu[tr], y[tr], max_iter, seed)
    add("normalised", "document", L, uni, Xu[te], y[te], g[te], len(tr), 2)
    del Xu  # one copy of the states at a time
    Xr, _, _ = flatten(random_control(states, seed), docs)
    ctl = fit_classifier(Xr[tr], y[tr], max_iter, seed)
    add("control", "document", L, ctl, Xr[te], y[te], g[te], len(tr), 3)
    return raw


def _transfer_variant(add, raw, transfer, states, n_train: int) -> None:
    """The raw classifier on the states of a second corpus."""
    ts, td = transfer
    if ts.shape[0] != states.shape[0] or ts.shape[-1] != states.shape[-1]:
        raise UserError(
            f"geometry: transfer states have shape {ts.shape}, main states {states.shape}"
        )
    Xt, yt, gt = flatten(ts, td)
    add("transfer", "corpus", ts.shape[2], raw, Xt, yt, gt, n_train, 4)


def _length_variants(add, states, docs, lengths, test_size, max_iter, seed) -> None:
    """Document split on the first L' tokens of every window, for every L' of ``lengths`` below L."""
    L = states.shape[2]
    for i, n_tok in enumerate(sorted({int(k) for k in (lengths or []) if 0 < int(k) < L})):
        Xl, yl, gl = flatten(np.ascontiguousarray(states[:, :, :n_tok]), docs)
        ltr, lte = document_split(gl, test_size, seed)
        clf = fit_classifier(Xl[ltr], yl[ltr], max_iter, seed)
        add("length", "document", n_tok, clf, Xl[lte], yl[lte], gl[lte], len(ltr), 5 + i)


def _attribution(raw) -> pd.DataFrame:
    """Each input dimension's share of the raw classifier's absolute weights, largest first."""
    coef = np.abs(raw[-1].coef_).sum(0)
    share = coef / max(coef.sum(), 1e-300)
    order = np.argsort(-share, kind="stable")
    return pd.DataFrame(
        {
            "dimension": order,
            "share": share[order],
            "rank": np.arange(1, len(share) + 1),
            "cumulative_share": np.cumsum(share[order]),
        }
    )


# ---- per-checkpoint state files and the per-run analysis ------------------------------------------


def checkpoint_tables(
    step: int,
    states: np.ndarray,
    docs,
    transfer=None,
    lengths=None,
    test_size=0.2,
    n_boot=1000,
    ci=0.95,
    max_iter=200,
    seed=0,
    pca_points=200,
    pca=True,
) -> dict[str, pd.DataFrame]:
    """Every geometry table of one checkpoint, each with a ``step`` column."""
    out = layer_classifier(
        states,
        docs,
        transfer=transfer,
        lengths=lengths,
        test_size=test_size,
        n_boot=n_boot,
        ci=ci,
        max_iter=max_iter,
        seed=seed,
    )
    out["norms"] = layer_norms(states)
    if pca:
        out["pca"], out["pca_variance"] = pca_by_layer(states, n_points=pca_points, seed=seed)
    for t in out.values():
        t.insert(0, "step", int(step))
    return out
