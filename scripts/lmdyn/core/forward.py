"""Forward passes that hand out final hidden states instead of full logits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def windows_of(tokens: pd.DataFrame) -> list[np.ndarray]:
    """Token-id arrays of every (doc_id, window), in table order."""
    return [g.token_id.to_numpy() for _, g in tokens.groupby(["doc_id", "window"], sort=False)]


def batches(windows: list[np.ndarray], batch_size: int):
    """Window indices per batch: longest windows first, batches of equal length only (no padding)."""
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
    i = 0
    while i < len(order):
        L = len(windows[order[i]])
        batch = [order[i]]
        while (
            len(batch) < batch_size
            and i + len(batch) < len(order)
            and len(windows[order[i + len(batch)]]) == L
        ):
            batch.append(order[i + len(batch)])
        yield batch
        i += len(batch)


@torch.no_grad()
def final_hidden_states(
    model, windows: list[np.ndarray], batch_size: int, device, log=None
) -> torch.Tensor:
    """Hidden states after the final layer norm at every predicting position (0..L-2 of each window).

    Returns float32 [sum(L-1), d] on the CPU, rows in window order. Windows are batched by equal
    length, so no padding ever enters a computation and the result of a window does not depend on
    which other windows share its batch (up to floating-point reassociation in matmul kernels).
    """
    body = model.base_model  # GPTNeoXModel / GPT2Model: its last_hidden_state is post final LN
    out: list[torch.Tensor | None] = [None] * len(windows)
    done = 0
    for batch in batches(windows, batch_size):
        ids = torch.from_numpy(np.stack([windows[j] for j in batch])).to(device)
        h = body(input_ids=ids).last_hidden_state.float()[:, :-1].cpu()
        for j, row in zip(batch, h):
            out[j] = row
        done += len(batch)
        if log and (done == len(windows) or done % max(1, len(windows) // 10) < len(batch)):
            log.info("forward: %d/%d windows", done, len(windows))
    d = model.config.hidden_size
    return torch.cat(out) if out else torch.zeros(0, d)
