"""The checks a neurons prompt pair and its targets must pass, on any tokenizer with ``encode(text,
add_special_tokens=False)``, ``convert_ids_to_tokens`` and ``bos_token_id`` (no torch: the
workflow runs them when it reads the config, on a local suite's tokenizer)."""

from __future__ import annotations

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


def target_ids(tokenizer, prompt_name: str, targets) -> list[int]:
    """Both targets' ids: single tokens, and two different ones (the metric is their difference)."""
    ids = [target_id(tokenizer, prompt_name, t) for t in targets]
    if len(set(ids)) < len(ids):
        raise UserError(
            f"neurons.targets {list(targets)} are the same token of the suite's tokenizer; "
            "choose two different single-token targets"
        )
    return ids


def prompt_ids(
    tokenizer, name: str, clean: str, corrupted: str, prepend_bos: bool
) -> tuple[list[int], list[int]]:
    """Token ids of both prompts: at least one token each, and equally many (patching is position
    by position)."""

    def enc(tag, text):
        ids = tokenizer.encode(text, add_special_tokens=False)
        if not ids:
            raise UserError(
                f"neurons: the {tag} text of prompt {name!r} has no tokens; give it some text"
            )
        if prepend_bos:
            if tokenizer.bos_token_id is None:
                raise UserError(
                    f"neurons: prompt {name!r} asks for a BOS token but the tokenizer has none; "
                    "set neurons.prepend_bos: false"
                )
            ids = [tokenizer.bos_token_id] + ids
        return list(ids)

    a, b = enc("clean", clean), enc("corrupted", corrupted)
    if len(a) != len(b):
        raise UserError(
            f"neurons: prompt {name!r}: clean and corrupted prompts have {len(a)} and {len(b)} "
            "tokens; patching needs equal lengths"
        )
    return a, b


def check_prompts(tokenizer, spec: dict) -> None:
    """Every prompt pair and the targets of a suite's neurons spec (prompts, targets, prepend_bos)."""
    for p in spec["prompts"]:
        target_ids(tokenizer, p["name"], spec["targets"])
        prompt_ids(tokenizer, p["name"], p["clean"], p["corrupted"], spec["prepend_bos"])
