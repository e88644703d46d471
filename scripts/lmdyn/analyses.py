"""One analysis on one checkpoint, from Python: each call runs the library code the workflow's
per-checkpoint task runs and returns its table(s) for that checkpoint, without the key columns.

``checkpoint`` is an :class:`lmdyn.core.internals.Internals` (see ``Internals.from_pretrained``) or
a checkpoint directory / hub repository id (loaded on each call). Texts are a list of strings, a
documents frame (``doc_id``, ``text``: e.g. ``lmdyn.load("corpus.docs")``) or a tokens table
(``lmdyn.load("tokens")``, used as it is). Defaults are those of ``config/config.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lmdyn.core.errors import UserError
from lmdyn.core.internals import Internals

CONTEXT_LENGTH, WINDOWS_PER_DOC = 128, 2  # config tokens:
LENS_MODES = ("per_layer", "final_scale")


def load(checkpoint, revision: str | None = None, **kwargs) -> Internals:
    """``checkpoint`` as an Internals: itself when it is one, else ``Internals.from_pretrained``."""
    if isinstance(checkpoint, Internals):
        return checkpoint
    return Internals.from_pretrained(checkpoint, revision, **kwargs)


def _tokenizer(ix: Internals):
    if ix.tokenizer is None:
        raise UserError(
            "this checkpoint has no tokenizer; pass tokenizer= to Internals.from_pretrained"
        )
    return ix.tokenizer


def tokens(
    texts, tokenizer, context_length: int = CONTEXT_LENGTH, windows_per_doc: int = WINDOWS_PER_DOC
) -> pd.DataFrame:
    """The evaluation tokens table (``tokens``) of ``texts`` as the workflow cuts it into windows;
    a tokens table is returned as it is."""
    from lmdyn.data.tokens import tokenize_documents

    if isinstance(texts, pd.DataFrame) and {"token_id", "window"} <= set(texts.columns):
        return texts.reset_index(drop=True)
    if isinstance(texts, pd.DataFrame):
        docs = texts[["doc_id", "text"]]
    else:
        texts = [texts] if isinstance(texts, str) else list(texts)
        docs = pd.DataFrame({"doc_id": np.arange(len(texts)), "text": texts})
    return tokenize_documents(tokenizer, docs, context_length, windows_per_doc)


def _windows(tok: pd.DataFrame) -> tuple[list[np.ndarray], np.ndarray]:
    """The windows of a tokens table and their documents (as the run job makes them)."""
    from lmdyn.core.forward import windows_of

    keys = tok.groupby(["doc_id", "window"], sort=False).size().index
    return windows_of(tok), np.asarray([k[0] for k in keys])


def unigram(source, tokenizer=None, vocab_size: int | None = None, ghost_count: float = 0.5):
    """The ``unigram`` table (token_id, count, prob) of a list of texts (counted with
    ``tokenizer``) or of token counts (one per token id), smoothed with ``ghost_count``."""
    from lmdyn.data.unigram import count_tokens, smoothed

    source = [source] if isinstance(source, str) else list(source)
    if source and all(isinstance(s, str) for s in source):
        if tokenizer is None:
            raise UserError("unigram: counting texts needs the tokenizer (tokenizer=)")
        counts = count_tokens(tokenizer, source, vocab_size or len(tokenizer))
    else:
        counts = np.asarray(source, dtype=np.int64)
    return smoothed(counts, ghost_count)


def log_unigram(reference, ix: Internals) -> np.ndarray:
    """log u [V] (float64) from a unigram table (a frame or its parquet file), texts or counts."""
    if isinstance(reference, (str, Path)) and Path(reference).suffix == ".parquet":
        reference = pd.read_parquet(reference)
    if not isinstance(reference, pd.DataFrame):
        reference = unigram(reference, ix.tokenizer, ix.vocab_size)
    prob = reference.sort_values("token_id").prob.to_numpy(np.float64)
    if len(prob) != ix.vocab_size:
        raise UserError(
            f"the unigram reference has {len(prob)} tokens, the checkpoint's vocabulary "
            f"{ix.vocab_size}; build it with the checkpoint's tokenizer"
        )
    return np.log(prob)


def token_metrics(
    checkpoint,
    texts,
    unigram,
    context_length: int = CONTEXT_LENGTH,
    windows_per_doc: int = WINDOWS_PER_DOC,
    batch_size: int = 16,
    vocab_chunk: int = 2048,
    token_chunk: int = 1024,
) -> pd.DataFrame:
    """Per predicted token: doc_id, position, target_id, nll, entropy, kl_uniform, kl_unigram
    (float32, nats; the ``metrics.checkpoint`` table). ``unigram``: see :func:`log_unigram`."""
    from lmdyn.core.checkpoints import unembedding_of
    from lmdyn.core.forward import final_hidden_states
    from lmdyn.data.tokens import predicted
    from lmdyn.divergence.metrics import token_metrics as metrics

    ix = load(checkpoint)
    tok = tokens(texts, _tokenizer(ix), context_length, windows_per_doc)
    log_u = torch.from_numpy(log_unigram(unigram, ix))
    pred = predicted(tok)
    device = ix.W_U.device
    hidden = final_hidden_states(ix.model, _windows(tok)[0], batch_size, device)
    w, b = unembedding_of(ix.model, ix.vocab_size)
    targets = torch.tensor(pred.target_id.to_numpy())
    m = metrics(hidden.to(device), w, targets, log_u, b, vocab_chunk, token_chunk)
    table = pred[["doc_id", "position", "target_id"]].reset_index(drop=True)
    for k, v in m.items():
        table[k] = v.numpy()
    return table


def probe(checkpoint, unigram, max_iter: int = 500, rtol: float = 1e-12) -> dict:
    """The unigram latent probe of W_U: {"probe": one row, "deciles": per frequency decile,
    "tokens": per token (log u, log probe, W_E's first two principal components)}; the tables
    ``probe``, ``probe.deciles``, ``probe.tokens``."""
    from lmdyn.probe import compute

    ix = load(checkpoint)
    log_u = log_unigram(unigram, ix)
    res = compute.fit(ix.W_U.cpu().numpy(), log_u, max_iter=max_iter, rtol=rtol)
    row, per = compute.summarise(log_u, res)
    pcs, share = compute.pca2(ix.W_E.cpu().numpy())
    tokens = pd.DataFrame(
        {
            "token_id": np.arange(len(log_u)),
            "log_u": log_u,
            "log_probe": res["log_p"],
            "pc1": pcs[:, 0],
            "pc2": pcs[:, 1],
            "pc1_share": share[0],
            "pc2_share": share[1],
        }
    )
    summary = pd.DataFrame([{**row, "arch": ix.arch, "tied": ix.tied}])
    return {"probe": summary, "deciles": per, "tokens": tokens}


def anisotropy(checkpoint, sample: int = 5000, seed: int = 0, bins: int = 100) -> dict:
    """Cosine statistics of W_E's rows (and W_U's when untied): {"anisotropy": one row per matrix
    and variant, "histograms": counts per bin}; the tables ``anisotropy``, ``anisotropy.histograms``."""
    from lmdyn.anisotropy.compute import anisotropy as cosines

    ix = load(checkpoint)
    rows, hists = [], []
    for name in ("W_E",) if ix.tied else ("W_E", "W_U"):
        r, h = cosines(getattr(ix, name).cpu(), sample=sample, seed=seed, bins=bins)
        rows += [{"matrix": name, **x} for x in r]
        hists.append(h.assign(matrix=name))
    stats = pd.DataFrame(rows).assign(arch=ix.arch, tied=ix.tied)
    return {"anisotropy": stats, "histograms": pd.concat(hists, ignore_index=True)}


def _pair(ix: Internals, clean: str, corrupted: str, targets, prepend_bos: bool):
    """(clean ids, corrupted ids, a, b) of a prompt pair, checked as the workflow checks it."""
    from lmdyn.neurons.prompts import encode_pair, target_id

    tok = _tokenizer(ix)
    if len(targets) != 2:
        raise UserError(f"give exactly two target tokens, not {list(targets)}")
    a, b = (target_id(tok, clean, t) for t in targets)  # errors name the prompt by its text
    c, k = encode_pair(tok, clean, clean, corrupted, prepend_bos)
    return c, k, a, b


def logit_lens(
    checkpoint, prompt: str, targets, modes=LENS_MODES, prepend_bos: bool = False
) -> pd.DataFrame:
    """The logit difference of ``targets`` (two single tokens) at the last position of ``prompt``,
    read after the embedding and after every block: layer, name, logit_diff, mode (one row set per
    mode; the ``neurons.lens`` table)."""
    from lmdyn.neurons.lens import logit_lens as lens

    ix = load(checkpoint)
    ids, _, a, b = _pair(ix, prompt, prompt, targets, prepend_bos)
    modes = [modes] if isinstance(modes, str) else list(modes)
    parts = [lens(ix, ids, a, b, mode=m, model=ix.model) for m in modes]
    return pd.concat(parts, ignore_index=True)


def layer_patching(
    checkpoint, clean: str, corrupted: str, targets, prepend_bos: bool = False, batch: int = 64
) -> pd.DataFrame:
    """Each component's clean value at one (layer, position) patched into the corrupted run:
    component, layer, position, logit_diff, restored (0 = corrupted, 1 = clean), token (the
    ``neurons.layer_patch`` table)."""
    from lmdyn.neurons.patching import layer_patching as patch

    ix = load(checkpoint)
    c, k, a, b = _pair(ix, clean, corrupted, targets, prepend_bos)
    lp = patch(ix, c, k, a, b, batch=batch)
    tok = ix.tokenizer
    lp["token"] = np.asarray([tok.decode([int(i)]) for i in c[0].tolist()])[lp.position]
    return lp


def neuron_patching(
    checkpoint,
    clean: str,
    corrupted: str,
    targets,
    layers="auto",
    max_neurons: int = 4096,
    prepend_bos: bool = False,
    batch: int = 256,
) -> pd.DataFrame:
    """Each MLP neuron's clean activation patched into the corrupted run (neuron -1: the whole
    layer): layer, neuron, logit_diff, restored (the ``neurons.neuron_patch`` table). ``layers``:
    a list, "all", or "auto" (every layer when they have at most ``max_neurons`` neurons, else those
    whose MLP output restores most, as the workflow's ``neurons.patch_layers``)."""
    from lmdyn.neurons.patching import choose_layers
    from lmdyn.neurons.patching import neuron_patching as patch

    ix = load(checkpoint)
    c, k, a, b = _pair(ix, clean, corrupted, targets, prepend_bos)
    lp = None
    if layers == "auto" and ix.n_layers * ix.d_mlp > max_neurons:  # the choice reads layer patching
        lp = layer_patching(ix, clean, corrupted, targets, prepend_bos)
    chosen = choose_layers(lp, ix.n_layers, ix.d_mlp, layers, max_neurons)
    return patch(ix, c, k, a, b, chosen, batch=batch)


def layer_states(
    checkpoint,
    texts,
    n_windows: int = 32,
    n_tokens: int = 16,
    seed: int = 0,
    context_length: int = CONTEXT_LENGTH,
    windows_per_doc: int = WINDOWS_PER_DOC,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """The residual stream of every layer (embedding, then each block's output) at the first
    ``n_tokens`` tokens of a seeded sample of ``n_windows`` windows of ``texts``: (states float32
    [layers + 1, windows, n_tokens, d_model], document of each window)."""
    from lmdyn.geometry.states import capture_states

    ix = load(checkpoint)
    windows, docs = _windows(tokens(texts, _tokenizer(ix), context_length, windows_per_doc))
    device = ix.W_U.device
    return capture_states(ix, windows, docs, n_windows, n_tokens, seed, batch_size, device)


def layer_classifier(
    states: np.ndarray,
    docs,
    lengths=(4, 8),
    test_size: float = 0.2,
    n_boot: int = 1000,
    max_iter: int = 100,
    seed: int = 0,
    pca_points: int = 64,
    transfer: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict:
    """The layer classifier, norms and PCA of :func:`layer_states`' output: {"accuracy",
    "attribution", "norms", "pca", "pca_variance"} (the ``geometry.*`` tables). ``transfer``: the
    states of a second corpus from the same checkpoint."""
    from lmdyn.geometry.compute import checkpoint_tables

    out = checkpoint_tables(
        0,
        states,
        docs,
        transfer=transfer,
        lengths=list(lengths) if lengths else None,
        test_size=test_size,
        n_boot=n_boot,
        max_iter=max_iter,
        seed=seed,
        pca_points=pca_points,
    )
    return {k: t.drop(columns="step") for k, t in out.items()}
