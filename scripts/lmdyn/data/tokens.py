"""Tokenizer training (micro suite) and tokenization of evaluation documents with character offsets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmdyn.core.errors import UserError

SPECIAL_TOKENS = ["<|endoftext|>"]


def train_bpe(texts: list[str], vocab_size: int, min_frequency: int = 2):
    """Byte-level BPE (GPT-2/Pythia style) trained on ``texts``; returns a ``tokenizers.Tokenizer``.

    Training is deterministic for the same texts and settings.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # trim_offsets=False: offsets cover the leading space; POS alignment trims whitespace itself.
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_hf_tokenizer(tok, out_dir: str) -> None:
    """Save as a transformers ``PreTrainedTokenizerFast`` directory (loadable with AutoTokenizer)."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=SPECIAL_TOKENS[0],
        eos_token=SPECIAL_TOKENS[0],
        unk_token=SPECIAL_TOKENS[0],
    )
    fast.save_pretrained(out_dir)


def load_tokenizer(path: str):
    """A fast tokenizer from a directory or hub id (already resolved to a local path)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def tokenize_documents(
    tokenizer, docs: pd.DataFrame, context_length: int, windows_per_doc: int
) -> pd.DataFrame:
    """Token ids with character offsets, cut into windows of ``context_length`` tokens.

    Each document contributes at most ``windows_per_doc`` consecutive non-overlapping windows from its
    start. No BOS token is added (Pythia's convention): within every window the first token is context
    only and tokens 1..L-1 are predicted. Columns: doc_id, window, position (index in the document),
    token_id, start, end (character offsets into the document text, end exclusive).
    """
    frames = []
    for doc_id, text in zip(docs["doc_id"], docs["text"]):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = np.asarray(enc["input_ids"], dtype=np.int64)[: context_length * windows_per_doc]
        n = len(ids)
        # A trailing window of one token predicts nothing: drop it.
        if n % context_length == 1:
            ids, n = ids[:-1], n - 1
        if n < 2:
            continue
        offsets = np.asarray(enc["offset_mapping"], dtype=np.int64)[:n]
        pos = np.arange(n)
        frames.append(
            pd.DataFrame(
                {
                    "doc_id": doc_id,
                    "window": pos // context_length,
                    "position": pos,
                    "token_id": ids,
                    "start": offsets[:, 0],
                    "end": offsets[:, 1],
                }
            )
        )
    if not frames:
        raise UserError(
            "no evaluation document is long enough to predict a token (need at least 2 tokens)"
        )
    return pd.concat(frames, ignore_index=True)


def predicted(tokens: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``tokens`` that are predicted (not the first of their window), with their context token id."""
    first = tokens.groupby(["doc_id", "window"]).position.transform("min") == tokens.position
    ctx = tokens.token_id.shift(1)
    out = tokens.loc[~first, ["doc_id", "window", "position", "token_id"]].rename(
        columns={"token_id": "target_id"}
    )
    out["context_id"] = ctx[~first].astype(np.int64)
    return out.reset_index(drop=True)
