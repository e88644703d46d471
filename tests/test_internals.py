"""The internals layer against transformers' own logits and against TransformerLens on the same model.

TransformerLens (4.3, test-only dependency) wraps a deep copy of the same locally built model, so
both see identical weights; its hook values are an implementation independent of ours.
"""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import VOCAB, tiny_model

from lmdyn.core.errors import UserError
from lmdyn.core.internals import SUPPORTED_ARCHS, Internals


def tiny_neo(vocab: int = VOCAB, seed: int = 0):
    """A random tiny GPT-Neo (global and local attention layers, like gpt-neo-125m)."""
    import transformers

    cfg = transformers.GPTNeoConfig(
        vocab_size=vocab,
        hidden_size=16,
        num_layers=2,
        num_heads=2,
        intermediate_size=32,
        attention_types=[[["global", "local"], 1]],
        window_size=4,
        max_position_embeddings=64,
        embed_dropout=0.0,
        attention_dropout=0.0,
        resid_dropout=0.0,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(seed)
    model = transformers.GPTNeoForCausalLM(cfg)
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(30.0)
    return model.eval()


def build(arch: str):
    if arch == "gpt_neo":
        return tiny_neo()
    # Pythia pads its output (and input) rows: 128 rows for a 97-token vocabulary here.
    return tiny_model(arch, vocab=VOCAB, padded_vocab=128 if arch == "gpt_neox" else None)


def bridge_of(model, tokenizer):
    pytest.importorskip("transformer_lens")
    from transformer_lens.model_bridge import TransformerBridge

    return TransformerBridge.boot_transformers(
        "tiny", hf_model=copy.deepcopy(model), tokenizer=tokenizer
    )


def ids_of(seed: int, shape=(3, 11)) -> torch.Tensor:
    return torch.randint(0, VOCAB, shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("arch", SUPPORTED_ARCHS)
def test_final_norm_and_unembedding_reproduce_transformers_logits(arch):
    model = build(arch)
    ix = Internals(model, VOCAB)
    ids = ids_of(1)
    logits, cache = ix.run(
        ids, names=[f"blocks.{ix.n_layers - 1}.hook_resid_post", "ln_final.hook_normalized"]
    )
    with torch.no_grad():
        ref = model(input_ids=ids).logits[..., :VOCAB]
    assert logits.shape == (3, 11, VOCAB) and logits.dtype == torch.float32
    assert torch.equal(logits, ref)
    rebuilt = ix.unembed(ix.ln_final(cache[f"blocks.{ix.n_layers - 1}.hook_resid_post"]))
    assert (rebuilt - ref).abs().max() <= 1e-5
    assert (ix.unembed(cache["ln_final.hook_normalized"]) - ref).abs().max() <= 1e-5


@pytest.mark.parametrize("arch", SUPPORTED_ARCHS)
def test_weights_shapes_orientation_and_slicing(arch):
    model = build(arch)
    ix = Internals(model, VOCAB)
    d, V = ix.d_model, VOCAB
    assert (ix.arch, ix.n_layers, d, ix.d_mlp) == (arch, 2, 16, 32)
    assert ix.W_E.shape == (V, d) and ix.W_U.shape == (V, d)
    assert torch.equal(ix.W_U, model.get_output_embeddings().weight[:V])
    assert ix.tied == (arch != "gpt_neox")
    ids = ids_of(2)
    names = ["hook_embed"] + [
        f"blocks.{l}.{h}" for l in range(2) for h in ("mlp.hook_post", "hook_mlp_out")
    ]
    _, cache = ix.run(ids, names=names)
    emb = ix.W_E[ids]
    if arch != "gpt_neox":  # learned absolute positions are part of the embedding output
        emb = emb + model.base_model.wpe.weight[: ids.shape[1]]
    assert (cache["hook_embed"] - emb).abs().max() <= 1e-6
    for l in range(2):
        # MLP output = neuron activations @ W_out + b_out: checks W_out's orientation
        mlp = model.base_model.layers[l].mlp if arch == "gpt_neox" else model.base_model.h[l].mlp
        b_out = (mlp.dense_4h_to_h if arch == "gpt_neox" else mlp.c_proj).bias
        out = cache[f"blocks.{l}.mlp.hook_post"] @ ix.W_out(l) + b_out
        assert (out - cache[f"blocks.{l}.hook_mlp_out"]).abs().max() <= 1e-5
        assert ix.W_in(l).shape == (d, ix.d_mlp) and ix.W_out(l).shape == (ix.d_mlp, d)


@pytest.mark.parametrize("arch", SUPPORTED_ARCHS)
def test_captured_activations_equal_transformerlens(arch, tokenizer):
    model = build(arch)
    ix = Internals(model, VOCAB)
    bridge = bridge_of(model, tokenizer)
    ids = ids_of(3)
    names = ix.hook_names()
    logits, cache = ix.run(ids, names=names)
    with torch.no_grad():
        tl_logits, tl_acts = bridge.run_with_cache(
            ids, names_filter=lambda n: n in names + ["hook_pos_embed"]
        )
    tl_cache = {n: tl_acts[n] for n in tl_acts.keys()}
    if "hook_pos_embed" in tl_cache:
        # API: hook_embed includes learned positions (= resid_pre of block 0); TransformerLens splits them
        tl_cache["hook_embed"] = tl_cache["hook_embed"] + tl_cache["hook_pos_embed"]
    assert (logits - tl_logits[..., :VOCAB]).abs().max() <= 1e-5
    for n in names:
        assert cache[n].shape == tl_cache[n].shape, n
        assert (cache[n] - tl_cache[n]).abs().max() <= 1e-5, n
    # The weights, too (unprocessed; TransformerLens keeps W_U as [d, V], the API as [V, d])
    for l in range(ix.n_layers):
        assert torch.equal(ix.W_in(l), bridge.W_in[l].detach()) and torch.equal(
            ix.W_out(l), bridge.W_out[l].detach()
        )
    assert torch.equal(ix.W_E, bridge.W_E.detach()[:VOCAB]) and torch.equal(
        ix.W_U, bridge.W_U.detach()[:, :VOCAB].T
    )


@pytest.mark.parametrize("arch", SUPPORTED_ARCHS)
def test_patched_run_equals_transformerlens(arch, tokenizer):
    model = build(arch)
    ix = Internals(model, VOCAB)
    bridge = bridge_of(model, tokenizer)
    clean, corrupt = ids_of(4), ids_of(5)
    _, clean_cache = ix.run(clean, names=["blocks.1.hook_resid_pre"])
    patches = {
        # activation patching: the clean residual stream into the corrupted run, at positions 5..
        "blocks.1.hook_resid_pre": lambda v: torch.cat(
            [v[:, :5], clean_cache["blocks.1.hook_resid_pre"][:, 5:]], 1
        ),
        # neuron ablation: one MLP neuron set to minus its activation
        "blocks.0.mlp.hook_post": lambda v: torch.cat([v[..., :3], -v[..., 3:4], v[..., 4:]], -1),
        "blocks.1.hook_attn_out": lambda v: 0.5 * v,
    }
    logits, cache = ix.run(
        corrupt, names=["blocks.1.hook_resid_post", "blocks.0.mlp.hook_post"], patches=patches
    )
    plain, _ = ix.run(corrupt)
    assert (logits - plain).abs().max() > 1e-2  # the patches change the output

    tl_hooks = [(n, (lambda f: lambda v, hook: f(v))(f)) for n, f in patches.items()]  # noqa: B023
    with torch.no_grad():
        tl_logits = bridge.run_with_hooks(corrupt, fwd_hooks=tl_hooks)
    assert (logits - tl_logits[..., :VOCAB]).abs().max() <= 1e-5
    # the cache holds the patched value; patches last one pass only
    assert torch.equal(
        cache["blocks.0.mlp.hook_post"][..., 3],
        -ix.run(corrupt, names=["blocks.0.mlp.hook_post"])[1]["blocks.0.mlp.hook_post"][..., 3],
    )
    again, _ = ix.run(corrupt)
    assert torch.equal(again, plain)


def test_positions_select_cache_rows():
    ix = Internals(build("gpt_neox"), VOCAB)
    ids = ids_of(6)
    _, full = ix.run(ids, names=["blocks.0.hook_resid_post"])
    _, some = ix.run(ids, names=["blocks.0.hook_resid_post"], positions=[-1, 2])
    assert torch.equal(
        some["blocks.0.hook_resid_post"], full["blocks.0.hook_resid_post"][:, [-1, 2]]
    )


def test_bad_patch_and_unknown_hook():
    ix = Internals(build("gpt2"), VOCAB)
    with pytest.raises(ValueError, match="shape"):
        ix.run(ids_of(7), patches={"hook_embed": lambda v: v[:, :2]})
    with pytest.raises(UserError, match="unknown hook point"):
        ix.run(ids_of(7), names=["blocks.5.hook_resid_post"])


def test_unknown_architecture_is_one_line():
    import transformers

    cfg = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    with pytest.raises(UserError) as e:
        Internals(transformers.LlamaForCausalLM(cfg), VOCAB)
    msg = str(e.value)
    assert "\n" not in msg and "'llama'" in msg and all(a in msg for a in SUPPORTED_ARCHS)


def test_vocabulary_larger_than_the_model_is_refused():
    with pytest.raises(UserError, match="rows"):
        Internals(build("gpt2"), VOCAB + 1)
