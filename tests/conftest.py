"""Shared fixtures: tiny HF checkpoints built locally with transformers (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def tiny_model(arch: str, vocab: int = 97, seed: int = 0, padded_vocab: int | None = None):
    """A random tiny causal LM; ``padded_vocab`` > vocab mimics Pythia's padded output rows."""
    from lmdyn.micro import build_model

    size = {"hidden_size": 16, "num_layers": 2, "num_heads": 2, "intermediate_size": 32}
    model = build_model(arch, padded_vocab or vocab, 64, size, seed)
    # Random init is near-uniform; scale the head so distributions are peaked and metrics non-trivial.
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(30.0)
    return model.eval()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
