"""The per-checkpoint pass of a whole run (model x seed) in one process.

A process costs seconds of start-up, imports and CUDA initialisation, and on a cluster an sbatch
submission: one job loads every checkpoint of a run in turn, and writes one file per checkpoint
and output (per-token metrics, final hidden states, one file per extra). The next checkpoint's
weights load on a thread while the current one computes. A checkpoint that cannot be loaded (a
UserError: missing, corrupt, wrong vocabulary) is recorded in the run's status table and skipped;
the rest of the run is kept.

Extension point: an :class:`Extra` (lmdyn.core.extra) sees every checkpoint's loaded model and windows in
the same forward pass (it may register forward hooks), may run the model again once that pass is
over, and writes more files per checkpoint. Every per-checkpoint analysis that needs a forward pass
is one (layer states, token neurons), so a job reads each checkpoint once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lmdyn.core import registry
from lmdyn.core.checkpoints import load_for_pass, load_model, pick_device, unembedding_of
from lmdyn.core.checks import checkpoint_label, require_finite, require_finite_weights
from lmdyn.core.errors import UserError
from lmdyn.core.extra import Extra
from lmdyn.core.forward import final_hidden_states, windows_of
from lmdyn.data.tokens import predicted
from lmdyn.divergence.metrics import token_metrics

STATUS_COLUMNS = ["suite", "model", "seed", "step", "status", "error"]


def _layer_states(options: dict, files: dict) -> Extra:
    from lmdyn.geometry.states import LayerStates

    return LayerStates(options, files)


def _token_neurons(options: dict, files: dict) -> Extra:
    from lmdyn.neurons.task import TokenNeurons

    return TokenNeurons(options, files)


# name -> Extra subclass (or factory(options, files)); the rule enables the names listed in its
# extras param (config metrics.extras, plus `layers`: the layer geometry's states, options from config
# geometry, and `neurons`: the token-neuron tables, options from config neurons).
EXTRAS: dict = {"layers": _layer_states, "neurons": _token_neurons}


def make_extras(spec: dict, files: dict | None = None) -> list[Extra]:
    """Extras from ``{name: options}`` (config metrics.extras); ``files``: the run job's input files an
    extra may read (tokenizer, transfer tokens). Unknown names are a UserError."""
    unknown = sorted(set(spec) - set(EXTRAS))
    if unknown:
        raise UserError(f"unknown metrics.extras {unknown}; known: {sorted(EXTRAS) or 'none'}")
    return [EXTRAS[name](options, files) for name, options in spec.items()]


def _load(ref: dict, vocab: int, dtype: str, device, max_positions: int | None = None):
    t = time.perf_counter()
    path = registry.resolve_ref(ref)
    model, w, b = load_for_pass(path, vocab, dtype, max_positions)
    # NaN/inf weights: the checkpoint is recorded as failed (one line naming it and the first
    # non-finite parameter) and left out, like an unreadable one
    require_finite_weights(model, checkpoint_label(ref))
    model, w = model.to(device), w.to(device)
    return path, model, w, (b.to(device) if b is not None else None), time.perf_counter() - t


def _nll_error(
    path, windows, table: pd.DataFrame, vocab_chunk: int, token_chunk: int, targets, log_unigram
):
    """Per-token nll of the dtype pass against float32 (body and all) on the first window, on the CPU."""
    model = load_model(path, "cpu")
    w, b = unembedding_of(model, len(log_unigram))
    h = final_hidden_states(model, windows[:1], 1, "cpu")
    n = h.shape[0]
    ref = token_metrics(h, w, targets[:n], log_unigram, b, vocab_chunk, token_chunk)["nll"].numpy()
    diff = np.abs(table.nll.to_numpy()[:n] - ref)
    return float(diff.mean()), float(diff.max()), n


def run_pass(
    refs: list[dict],
    tokens: pd.DataFrame,
    log_unigram: np.ndarray,
    out: dict,
    device="auto",
    batch_size: int = 16,
    vocab_chunk: int = 8192,
    token_chunk: int = 1024,
    dtype: str = "float32",
    extras: list[Extra] = (),
    log=None,
) -> pd.DataFrame:
    """Run every checkpoint of ``refs`` (encoded references, step order) through one forward pass.

    ``out``: output directories by name: ``metrics`` (``step{step}.parquet``: doc_id, position,
    target_id, nll, entropy, kl_uniform, kl_unigram), ``hidden`` (``step{step}.npy``: float32
    [tokens, d] final hidden states) and one per extra. Returns the status table (one row per
    checkpoint: ``ok`` or ``failed`` with the one-line error).
    """
    dev = pick_device(device)
    vocab = len(log_unigram)
    windows = windows_of(tokens)
    max_positions = max((len(w) for w in windows), default=None)
    pred = predicted(tokens)
    targets = torch.tensor(pred.target_id.to_numpy())
    logu = torch.from_numpy(np.asarray(log_unigram))
    keys = pred[["doc_id", "position", "target_id"]].reset_index(drop=True)
    docs = np.asarray([k[0] for k in tokens.groupby(["doc_id", "window"], sort=False).size().index])
    for e in extras:
        e.setup(windows, docs, vocab)
    dirs = {k: Path(v) for k, v in out.items()}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    rows, checked = [], dtype == "float32"
    with ThreadPoolExecutor(max_workers=1) as pool:
        nxt = pool.submit(_load, refs[0], vocab, dtype, dev, max_positions) if refs else None
        for i, ref in enumerate(refs):
            fut, nxt = nxt, None
            c = registry.as_checkpoint(ref)
            t0 = time.perf_counter()
            try:
                path, model, w, b, load_s = fut.result()
            except UserError as e:
                rows.append((c.suite, c.model, c.seed, c.step, "failed", str(e)))
                if log:
                    log.warning("step %d skipped: %s", c.step, e)
                if i + 1 < len(refs):
                    nxt = pool.submit(_load, refs[i + 1], vocab, dtype, dev, max_positions)
                continue
            wait_s = time.perf_counter() - t0
            if i + 1 < len(refs):  # load the next checkpoint while this one computes
                nxt = pool.submit(_load, refs[i + 1], vocab, dtype, dev, max_positions)
            files = {
                "metrics": dirs["metrics"] / f"step{c.step}.parquet",
                "hidden": dirs["hidden"] / f"step{c.step}.npy",
            }
            begun = []
            try:
                for e in extras:
                    e.begin(model, windows, ref)
                    begun.append(e)

                def on_batch(indices):
                    for e in extras:
                        e.batch(indices)

                with torch.no_grad():
                    hidden = final_hidden_states(
                        model, windows, batch_size, dev, on_batch=on_batch if extras else None
                    )
                    require_finite({"final hidden state": hidden}, checkpoint_label(ref))
                    m = token_metrics(hidden.to(dev), w, targets, logu, b, vocab_chunk, token_chunk)
                    require_finite(m, checkpoint_label(ref))
                table = keys.copy()
                for k, v in m.items():
                    table[k] = v.numpy()
                table.to_parquet(files["metrics"], index=False)
                np.save(files["hidden"], hidden.numpy())
                for e in extras:  # every hook off before any extra runs the model again
                    e.release()
                for e in extras:
                    note = e.end(dirs[e.name] / f"step{c.step}{e.suffix}")
                    if note and log:
                        log.info("step %d: %s", c.step, note)
            except UserError as err:
                for e in begun:
                    e.abort()
                for f in dirs.values():
                    for p in f.glob(f"step{c.step}.*"):
                        p.unlink()
                rows.append((c.suite, c.model, c.seed, c.step, "failed", str(err)))
                if log:
                    log.warning("step %d skipped: %s", c.step, err)
                continue
            rows.append((c.suite, c.model, c.seed, c.step, "ok", ""))
            if log:
                log.info(
                    "step %d: %d tokens, mean nll %.4f, kl_uniform %.4f, kl_unigram %.4f "
                    "(waited %.2fs for weights loaded in %.2fs, computed in %.2fs)",
                    c.step,
                    len(table),
                    table.nll.mean(),
                    table.kl_uniform.mean(),
                    table.kl_unigram.mean(),
                    wait_s,
                    load_s,
                    time.perf_counter() - t0 - wait_s,
                )
            if not checked:
                checked = True
                mean, mx, n = _nll_error(
                    path, windows, table, vocab_chunk, token_chunk, targets, logu
                )
                if log:
                    log.info(
                        "metrics.dtype %s (transformer body only; output projection and reductions in "
                        "float32): per-token nll against a float32 pass on the first window of step %d "
                        "(%d tokens, CPU): mean |error| %.2e, max %.2e nats",
                        dtype,
                        c.step,
                        n,
                        mean,
                        mx,
                    )
            del model, w, b
    status = pd.DataFrame(rows, columns=STATUS_COLUMNS)
    if len(status) and not (status.status == "ok").any():
        first = status.iloc[0]
        raise UserError(
            f"no checkpoint of suite {first.suite} model {first.model} seed {first.seed} could be "
            f"analysed; the first failure: {first.error}"
        )
    return status
