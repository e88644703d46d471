"""The micro suite trains deterministically and saves loadable HF checkpoints."""

import numpy as np
import torch
from safetensors.torch import load_file

from lmdyn.data.micro import lr_at, train_run
from lmdyn.data.tokens import save_hf_tokenizer, train_bpe

TEXT = "the cat sat on the mat and the dog sat on the log " * 50


def run(tmp_path, seed, name, arch="gpt_neox"):
    tok_dir = tmp_path / "tok"
    if not tok_dir.exists():
        save_hf_tokenizer(train_bpe([TEXT], 300), str(tok_dir))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    ids = tok(TEXT)["input_ids"]
    size = {"hidden_size": 16, "num_layers": 1, "num_heads": 2}
    curve = train_run(
        arch,
        size,
        seed,
        np.array(ids),
        len(tok),
        16,
        [0, 1, 2, 4, 8],
        4,
        3e-3,
        2,
        0.01,
        tmp_path / name,
        tok_dir,
    )
    return curve


def weights(path):
    return load_file(str(path / "model.safetensors"))


def test_training_is_deterministic_per_seed(tmp_path):
    torch.set_num_threads(1)
    a = run(tmp_path, 0, "a")
    b = run(tmp_path, 0, "b")
    run(tmp_path, 1, "c")  # another seed: its weights differ (below)
    assert a.loss.tolist() == b.loss.tolist()
    wa, wb, wc = (
        weights(tmp_path / "a/step8"),
        weights(tmp_path / "b/step8"),
        weights(tmp_path / "c/step8"),
    )
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not torch.equal(wa["embed_out.weight"], wc["embed_out.weight"])
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "step0",
        "step1",
        "step2",
        "step4",
        "step8",
    ]
    assert a.loss.iloc[-1] < a.loss.iloc[0]
    assert not torch.equal(
        wa["embed_out.weight"], weights(tmp_path / "a/step0")["embed_out.weight"]
    )


def test_gpt2_architecture_is_selectable(tmp_path):
    from transformers import AutoModelForCausalLM

    run(tmp_path, 0, "g", arch="gpt2")
    assert (
        AutoModelForCausalLM.from_pretrained(str(tmp_path / "g/step4")).config.model_type == "gpt2"
    )


def test_lr_schedule_warms_up_then_decays():
    assert lr_at(0, 100, 1.0, 10) == 0.1
    assert lr_at(9, 100, 1.0, 10) == 1.0
    assert lr_at(100, 100, 1.0, 10) == 0.1
