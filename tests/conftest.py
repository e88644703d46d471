"""Shared fixtures: tiny HF checkpoints built locally with transformers (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

VOCAB = (
    97  # tokens t0 .. t96 of the word-level `tokenizer` fixture; tiny_model's default vocabulary
)


def tiny_model(arch: str, vocab: int = VOCAB, seed: int = 0, padded_vocab: int | None = None):
    """A random tiny causal LM; ``padded_vocab`` > vocab mimics Pythia's padded output rows."""
    from lmdyn.data.micro import build_model

    size = {"hidden_size": 16, "num_layers": 2, "num_heads": 2, "intermediate_size": 32}
    model = build_model(arch, padded_vocab or vocab, 64, size, seed)
    # Random init is near-uniform; scale the head so distributions are peaked and metrics non-trivial.
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(30.0)
    return model.eval()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """A word-level tokenizer over VOCAB tokens t0 .. t96, saved and reloaded (TransformerLens
    reloads it by path)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tk = Tokenizer(models.WordLevel({f"t{i}": i for i in range(VOCAB)}, unk_token="t1"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="t0", eos_token="t0", unk_token="t1", pad_token="t0"
    )
    d = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(d)
    return AutoTokenizer.from_pretrained(str(d))
