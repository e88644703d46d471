"""Prompt pairs and their metric: single-token targets, clean/corrupted token ids, the logit difference.

The metric is the logit difference ``z[a] - z[b]`` of a target token pair at the last position of a
prompt. Everything reads the model through ``lmdyn.core.internals.Internals`` (TransformerLens-style
hook names).
"""

from __future__ import annotations

import torch

from lmdyn.neurons.promptcheck import prompt_ids, target_id  # noqa: F401  (re-exported)


def encode_pair(
    tokenizer, name: str, clean: str, corrupted: str, prepend_bos: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [1, T] of both prompts (checked by :func:`promptcheck.prompt_ids`)."""
    a, b = prompt_ids(tokenizer, name, clean, corrupted, prepend_bos)
    return torch.tensor([a], dtype=torch.long), torch.tensor([b], dtype=torch.long)


def logit_diff(logits: torch.Tensor, a: int, b: int) -> torch.Tensor:
    """z[a] - z[b] at the last position, one value per batch row."""
    return logits[:, -1, a] - logits[:, -1, b]


@torch.no_grad()
def prompt_summary(ix, clean: torch.Tensor, corrupted: torch.Tensor, a: int, b: int) -> dict:
    """Probabilities of both targets and their logit difference, clean and corrupted (the model's logits)."""
    out = {}
    for tag, ids in (("clean", clean), ("corrupted", corrupted)):
        logits, _ = ix.run(ids, names=[])
        p = torch.softmax(logits[0, -1].double(), -1)
        out[f"p_a_{tag}"] = float(p[a])
        out[f"p_b_{tag}"] = float(p[b])
        out[f"logit_diff_{tag}"] = float(logit_diff(logits, a, b)[0])
    return out
