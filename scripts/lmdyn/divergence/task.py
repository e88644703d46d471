"""Family 1's per-checkpoint task: per-token metrics and the final hidden states."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from lmdyn.core.checkpoints import load_model, unembedding_of
from lmdyn.core.checks import require_finite
from lmdyn.core.engine import Task
from lmdyn.core.forward import final_hidden_states
from lmdyn.data.tokens import predicted
from lmdyn.divergence import METRICS
from lmdyn.divergence.metrics import token_metrics


class Metrics(Task):
    """``metrics.parquet`` (doc_id, position, target_id, nll, entropy, kl_uniform, kl_unigram),
    ``hidden.npy`` (float32 [tokens, d], after the final layer norm) and ``unembed.npy`` (W_U,
    float32 [vocab, d], sliced to the vocabulary: the pair jobs read it, not the checkpoint,
    which may be gone from the cache by then) of one checkpoint.

    Options: ``dtype`` (of the transformer body). Inputs: ``tokens`` (evaluation windows) and
    ``unigram``. Tuning: ``vocab_chunk``, ``token_chunk``.
    """

    spec = METRICS
    files = ("metrics.parquet", "hidden.npy", "unembed.npy")
    critical = True  # the run status (hence the steps every family keeps) follows the metrics

    def setup(self, run) -> None:
        self.run = run
        pred = predicted(pd.read_parquet(self.inputs["tokens"]))
        self.targets = torch.tensor(pred.target_id.to_numpy())
        self.keys = pred[["doc_id", "position", "target_id"]].reset_index(drop=True)
        log_u = np.log(pd.read_parquet(self.inputs["unigram"]).prob.to_numpy())
        self.log_unigram = torch.from_numpy(np.asarray(log_u))
        self.checked = self.options.get("dtype", "float32") == "float32"

    def begin(self, ckpt) -> None:
        self.rows: list[torch.Tensor | None] = [None] * len(self.run.windows)

    def hidden(self, indices, h) -> None:
        for j, row in zip(indices, h):
            self.rows[j] = row

    def end(self, folder, ckpt) -> str:
        d = ckpt.model.config.hidden_size
        hidden = torch.cat(self.rows) if self.rows else torch.zeros(0, d)
        self.rows = []
        require_finite({"final hidden state": hidden}, ckpt.label)
        m = self.metrics(hidden.to(self.run.device), ckpt.unembed, ckpt.bias)
        require_finite(m, ckpt.label)
        table = self.keys.copy()
        for k, v in m.items():
            table[k] = v.numpy()
        table.to_parquet(folder / "metrics.parquet", index=False)
        np.save(folder / "hidden.npy", hidden.numpy())
        np.save(folder / "unembed.npy", ckpt.unembed.float().cpu().numpy())
        note = (
            f"{len(table)} tokens, mean nll {table.nll.mean():.4f}, kl_uniform "
            f"{table.kl_uniform.mean():.4f}, kl_unigram {table.kl_unigram.mean():.4f}"
        )
        if not self.checked:
            self.checked = True
            note += "; " + self.dtype_error(ckpt, table)
        return note

    def metrics(self, hidden, w, b) -> dict:
        t = self.tuning
        return token_metrics(
            hidden, w, self.targets, self.log_unigram, b, t["vocab_chunk"], t["token_chunk"]
        )

    def dtype_error(self, ckpt, table) -> str:
        """Per-token nll of the dtype pass against float32 (body and all) on the first window."""
        model = load_model(ckpt.path, "cpu")
        w, b = unembedding_of(model, len(self.log_unigram))
        h = final_hidden_states(model, self.run.windows[:1], 1, "cpu")
        n = h.shape[0]
        t = self.tuning
        ref = token_metrics(
            h, w, self.targets[:n], self.log_unigram, b, t["vocab_chunk"], t["token_chunk"]
        )["nll"].numpy()
        diff = np.abs(table.nll.to_numpy()[:n] - ref)
        return (
            f"metrics.dtype {self.options['dtype']} (transformer body only; output projection and "
            f"reductions in float32): per-token nll against a float32 pass on the first window "
            f"({n} tokens, CPU): mean |error| {diff.mean():.2e}, max {diff.max():.2e} nats"
        )
