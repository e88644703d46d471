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


def write_inputs(folder, tokens, log_unigram):
    """The evaluation tokens and unigram tables as the workflow writes them; paths by name."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    tokens.to_parquet(folder / "tokens.parquet", index=False)
    u = np.exp(np.asarray(log_unigram, dtype=np.float64))
    pd.DataFrame({"token_id": np.arange(len(u)), "count": 1, "prob": u}).to_parquet(
        folder / "unigram.parquet", index=False
    )
    return {"tokens": folder / "tokens.parquet", "unigram": folder / "unigram.parquet"}


def run_engine(
    store_root,
    refs,
    tasks,
    tokens=None,
    vocab=VOCAB,
    batch_size=2,
    dtype="float32",
    weights=None,
    log=None,
):
    """The engine over ``refs`` with ``tasks`` on the CPU: (status table, {step: {task: entry
    folder}}). ``weights``: (model, seed, step) -> hash; default: hashed from the checkpoint files."""
    from lmdyn.core.engine import Engine, Run
    from lmdyn.core.forward import windows_of
    from lmdyn.core.store import Store

    run = Run(vocab=vocab, batch_size=batch_size, dtype=dtype, log=log)
    if tokens is not None:
        run.windows = windows_of(tokens)
        keys = tokens.groupby(["doc_id", "window"], sort=False).size().index
        run.docs = np.asarray([k[0] for k in keys])
    return Engine(tasks, run, Store(store_root, log=log), weights).run_all(refs)


TUNING = {"vocab_chunk": 31, "token_chunk": 10}


@pytest.fixture
def loopback_hub(monkeypatch):
    """A model hub on 127.0.0.1 (tests/hubserver.py) that the client reaches through HF_ENDPOINT;
    nothing else is reached."""
    import huggingface_hub.constants
    from hubserver import Hub

    hub = Hub().start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    yield hub
    hub.stop()
