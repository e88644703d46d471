"""Prompt pairs and their metric: single-token targets, clean/corrupted token ids, the logit difference.

The metric is the logit difference ``z[a] - z[b]`` of a target token pair at the last position of a
prompt. Everything reads the model through ``lmdyn.core.internals.Internals`` (TransformerLens-style
hook names).
"""

from __future__ import annotations

import torch

from lmdyn.core.errors import UserError


def target_id(tokenizer, prompt_name: str, token: str) -> int:
    """The single token id of ``token``; anything else is a one-line UserError."""
    ids = tokenizer.encode(token, add_special_tokens=False)
    if len(ids) != 1:
        pieces = tokenizer.convert_ids_to_tokens(ids)
        raise UserError(
            f"neurons: target {token!r} of prompt {prompt_name!r} is not a single token of the suite's "
            f"tokenizer (it splits into {pieces}); choose a single-token target"
        )
    return int(ids[0])


def encode_pair(
    tokenizer, name: str, clean: str, corrupted: str, prepend_bos: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [1, T] of both prompts; they must have the same length (patching is position by position)."""

    def enc(text):
        ids = tokenizer.encode(text, add_special_tokens=False)
        if prepend_bos:
            if tokenizer.bos_token_id is None:
                raise UserError(
                    f"neurons: prompt {name!r} asks for a BOS token but the tokenizer has none; "
                    "set neurons.prepend_bos: false"
                )
            ids = [tokenizer.bos_token_id] + ids
        return torch.tensor([ids], dtype=torch.long)

    a, b = enc(clean), enc(corrupted)
    if a.shape != b.shape:
        raise UserError(
            f"neurons: prompt {name!r}: clean and corrupted prompts have {a.shape[1]} and {b.shape[1]} "
            "tokens; patching needs equal lengths"
        )
    return a, b


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
