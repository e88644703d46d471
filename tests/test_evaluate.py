"""The per-checkpoint and pairwise passes against transformers' own outputs on tiny local checkpoints."""

import numpy as np
import pandas as pd
import pytest
import torch
from checkpoint_pass import evaluate_checkpoint, pair_side, pair_table
from conftest import tiny_model
from scipy.special import log_softmax, rel_entr

VOCAB = 97


def token_table(rng, lengths):
    rows = []
    for doc, n in enumerate(lengths):
        ids = rng.integers(0, VOCAB, n)
        for pos, t in enumerate(ids):
            rows.append((doc, pos // 24, pos, int(t), 0, 0))
    return pd.DataFrame(rows, columns=["doc_id", "window", "position", "token_id", "start", "end"])


@pytest.mark.parametrize("arch", ["gpt_neox", "gpt2"])
def test_mean_nll_equals_transformers_loss(tmp_path, rng, arch):
    model = tiny_model(arch, VOCAB)
    model.save_pretrained(tmp_path)
    tokens = token_table(rng, [24, 24, 24])  # three full windows
    table, hidden = evaluate_checkpoint(
        tmp_path, tokens, np.log(np.full(VOCAB, 1 / VOCAB)), "cpu", 2, 31, 10
    )
    ids = torch.tensor(
        np.stack([g.token_id.to_numpy() for _, g in tokens.groupby(["doc_id", "window"])])
    )
    with torch.no_grad():
        out = model(input_ids=ids, labels=ids, output_hidden_states=True)
    assert table.nll.mean() == pytest.approx(out.loss.item(), abs=1e-5)
    # per token too, against float64 log-softmax of transformers' logits
    lp = log_softmax(out.logits[:, :-1].double().numpy(), axis=-1)
    ref = -np.take_along_axis(lp, ids[:, 1:, None].numpy(), -1).ravel()
    np.testing.assert_allclose(table.nll.to_numpy(), ref, atol=1e-4)
    assert hidden.shape == (len(table), model.config.hidden_size)
    assert table.nll.std() > 0.1  # peaked model: a real test, not a uniform one


def test_padded_output_rows_are_dropped(tmp_path, rng):
    """Pythia-like: 128 output rows for a 97-token tokenizer; softmax only over the 97."""
    model = tiny_model("gpt_neox", VOCAB, padded_vocab=128)
    model.save_pretrained(tmp_path)
    tokens = token_table(rng, [24])
    table, _ = evaluate_checkpoint(tmp_path, tokens, np.log(np.full(VOCAB, 1 / VOCAB)), "cpu")
    with torch.no_grad():
        logits = (
            model(input_ids=torch.tensor(tokens.token_id.to_numpy())[None])
            .logits[0, :-1, :VOCAB]
            .double()
        )
    lp = log_softmax(logits.numpy(), -1)
    np.testing.assert_allclose(table.nll, -lp[np.arange(23), tokens.token_id[1:]], atol=1e-4)
    np.testing.assert_allclose(
        table.kl_uniform, np.log(VOCAB) + (np.exp(lp) * lp).sum(1), atol=1e-4
    )


def test_results_do_not_depend_on_batch_composition(tmp_path, rng):
    tiny_model("gpt_neox", VOCAB).save_pretrained(tmp_path)
    tokens = token_table(rng, [24, 60, 7, 24, 48])  # windows of lengths 24, 12, 7
    logu = np.log(rng.dirichlet(np.ones(VOCAB)))
    together, h1 = evaluate_checkpoint(tmp_path, tokens, logu, "cpu", batch_size=8)
    alone, h2 = evaluate_checkpoint(tmp_path, tokens, logu, "cpu", batch_size=1)
    subset, _ = evaluate_checkpoint(tmp_path, tokens[tokens.doc_id == 1], logu, "cpu", batch_size=3)
    cols = ["nll", "entropy", "kl_uniform", "kl_unigram"]
    np.testing.assert_allclose(together[cols], alone[cols], atol=1e-5)
    np.testing.assert_allclose(together.loc[together.doc_id == 1, cols], subset[cols], atol=1e-5)
    assert list(together.position) == list(alone.position)


@pytest.mark.parametrize(
    "arch", ["gpt_neox", "gpt2"]
)  # untied embed_out / tied wte read from safetensors
def test_pairwise_kl_from_hidden_states_equals_kl_from_logits(tmp_path, rng, arch):
    tokens = token_table(rng, [24, 24])
    logu = np.log(np.full(VOCAB, 1 / VOCAB))
    side = {}
    logits = {}
    for seed in (0, 1):
        d = tmp_path / f"seed{seed}"
        m = tiny_model(arch, VOCAB, seed=seed)
        m.save_pretrained(d)
        table, hidden = evaluate_checkpoint(d, tokens, logu, "cpu")
        np.save(d / "hidden.npy", hidden)
        side[seed] = pair_side(d / "hidden.npy", d, VOCAB)
        ids = torch.tensor(tokens.token_id.to_numpy().reshape(2, 24))
        with torch.no_grad():
            logits[seed] = m(input_ids=ids).logits[:, :-1].reshape(-1, VOCAB).double().numpy()
    got = pair_table(table, side[0], side[1], "cpu", vocab_chunk=13, token_chunk=7)
    pa, pb = np.exp(log_softmax(logits[0], -1)), np.exp(log_softmax(logits[1], -1))
    np.testing.assert_allclose(got.kl_ab, rel_entr(pa, pb).sum(1), atol=1e-4)
    np.testing.assert_allclose(got.kl_ba, rel_entr(pb, pa).sum(1), atol=1e-4)
    assert got.kl_ab.mean() > 0.1
