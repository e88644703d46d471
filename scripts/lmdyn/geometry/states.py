"""The layer geometry's states: the residual stream of every layer at the first ``L`` tokens of ``N``
sampled evaluation windows, captured by forward hooks (class 0 = ``hook_embed``, class ``l`` =
``blocks.{l-1}.hook_resid_post``), saved per checkpoint as one npz."""

from __future__ import annotations

import numpy as np

from lmdyn.core.errors import UserError


def layer_names(n_layers: int) -> list[str]:
    """Class labels: the embedding output, then every block's output (before the final norm)."""
    return ["embed"] + [f"block{i}" for i in range(n_layers)]


def hook_names(n_layers: int) -> list[str]:
    """Internals hook names of the classes, in class order."""
    return ["hook_embed"] + [f"blocks.{i}.hook_resid_post" for i in range(n_layers)]


def select_windows(windows: list[np.ndarray], doc_ids, n_windows: int, n_tokens: int, seed: int):
    """A seeded sample of ``n_windows`` windows with at least ``n_tokens`` tokens, cut to their first ``n_tokens``.

    Returns (ids int64 [n, n_tokens], docs [n], index of each chosen window in ``windows``), sorted by
    window index so the sample is the same whatever order the caller batches it in.
    """
    doc_ids = np.asarray(doc_ids)
    ok = np.flatnonzero([len(w) >= n_tokens for w in windows])
    if ok.size == 0:
        raise UserError(
            f"geometry: no evaluation window has {n_tokens} tokens; lower geometry.n_tokens"
        )
    take = np.sort(
        np.random.default_rng(seed).choice(ok, size=min(n_windows, ok.size), replace=False)
    )
    ids = np.stack([np.asarray(windows[i][:n_tokens], dtype=np.int64) for i in take])
    return ids, doc_ids[take], take


def states_from_cache(cache: dict, n_layers: int) -> np.ndarray:
    """[C, batch, pos, d] float32 from an Internals cache holding ``hook_names(n_layers)``."""
    return np.stack([cache[n].detach().float().cpu().numpy() for n in hook_names(n_layers)])


def capture_states(
    ix,
    windows: list[np.ndarray],
    doc_ids,
    n_windows: int,
    n_tokens: int,
    seed: int,
    batch_size: int = 64,
    device=None,
):
    """Every layer's states at the first ``n_tokens`` tokens of a seeded sample of windows.

    ``ix`` is an ``lmdyn.core.internals.Internals``. Returns (states float32 [C, n, n_tokens, d], docs [n]).
    Within a per-checkpoint forward pass that already runs over full windows, the same states are
    ``states_from_cache(cache, n_layers)[:, rows, :n_tokens]`` for the rows ``select_windows`` picks.
    """
    import torch

    ids, docs, _ = select_windows(windows, doc_ids, n_windows, n_tokens, seed)
    names = hook_names(ix.n_layers)
    parts = []
    with torch.no_grad():
        for s in range(0, len(ids), batch_size):
            x = torch.from_numpy(ids[s : s + batch_size])
            if device is not None:
                x = x.to(device)
            _, cache = ix.run(x, names=names)
            parts.append(states_from_cache(cache, ix.n_layers))
    return np.concatenate(parts, axis=1).astype(np.float32, copy=False), docs


def save_states(path, states: np.ndarray, docs, transfer=None) -> None:
    """One checkpoint's states: ``states`` float32 [C, N, L, d] and ``docs`` [N] (uncompressed npz);
    ``transfer`` = (states, docs) of the second corpus, kept as ``transfer_states``, ``transfer_docs``."""
    more = {}
    if transfer is not None:
        more = {
            "transfer_states": np.asarray(transfer[0], dtype=np.float32),
            "transfer_docs": np.asarray(transfer[1]),
        }
    np.savez(path, states=np.asarray(states, dtype=np.float32), docs=np.asarray(docs), **more)


def load_states(path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return z["states"], z["docs"]


def load_transfer(path) -> tuple[np.ndarray, np.ndarray] | None:
    """The second corpus' (states, docs) saved beside a checkpoint's states, or None."""
    with np.load(path, allow_pickle=False) as z:
        return (z["transfer_states"], z["transfer_docs"]) if "transfer_states" in z.files else None


class StateCollector:
    """Collects the geometry states inside a forward pass over evaluation windows that runs anyway.

    Usage in a per-checkpoint pass (windows in any batch order)::

        col = StateCollector(ix.n_layers, windows, doc_ids, n_windows, n_tokens, seed)
        for batch_indices, ids in batches:                # indices into ``windows``
            names = metric_names + (col.names if col.wants(batch_indices) else [])
            logits, cache = ix.run(ids, names=names)
            col.add(batch_indices, cache)
        col.save(path)                                      # results/layers/.../step{step}.npz

    The windows chosen are those of ``select_windows`` (same seed, same sample as ``capture_states``).
    """

    def __init__(
        self,
        n_layers: int,
        windows: list[np.ndarray],
        doc_ids,
        n_windows: int,
        n_tokens: int,
        seed: int,
    ):
        _, self.docs, take = select_windows(windows, doc_ids, n_windows, n_tokens, seed)
        self.n_layers, self.n_tokens = n_layers, n_tokens
        self.row = {int(w): i for i, w in enumerate(take)}
        self.names = hook_names(n_layers)
        self.parts: dict[int, np.ndarray] = {}

    def wants(self, batch_indices) -> bool:
        return any(int(i) in self.row for i in batch_indices)

    def add(self, batch_indices, cache: dict) -> None:
        rows = [(b, self.row[int(i)]) for b, i in enumerate(batch_indices) if int(i) in self.row]
        if not rows:
            return
        st = states_from_cache(
            {n: cache[n][[b for b, _ in rows], : self.n_tokens] for n in self.names}, self.n_layers
        )
        for k, (_, r) in enumerate(rows):
            self.parts[r] = st[:, k]

    def states(self) -> np.ndarray:
        missing = sorted(set(range(len(self.docs))) - set(self.parts))
        if missing:
            raise ValueError(
                f"StateCollector: {len(missing)} chosen windows never passed through add()"
            )
        return np.stack([self.parts[r] for r in range(len(self.docs))], axis=1)

    def save(self, path) -> None:
        save_states(path, self.states(), self.docs)
