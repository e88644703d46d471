"""Checkpoint registry, plans and integrity: suite plans, hub-cache resolution offline, weight hashes and
integrity (no network)."""

from __future__ import annotations

import shutil

import pytest

from lmdyn.core.errors import UserError
from lmdyn.core.integrity import integrity_table, weights_hash
from lmdyn.core.plans import NAMED_GRIDS, plan, steps_for
from lmdyn.core.registry import Checkpoint, resolve

COMMIT = "0123456789abcdef0123456789abcdef01234567"


# ---------- grids and plans ----------


def test_named_grids():
    assert len(NAMED_GRIDS["pythia-log"]) == 154 and NAMED_GRIDS["pythia-log"][-1] == 143000
    assert NAMED_GRIDS["pythia-early"] == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    crfm = NAMED_GRIDS["crfm"]
    assert crfm[:3] == [10, 20, 30] and {
        90,
        100,
        150,
        1950,
        2000,
        2100,
        19900,
        20000,
        21000,
    } <= set(crfm)
    assert 95 not in crfm and 2050 not in crfm and crfm[-1] == 400000 and len(crfm) == 608
    assert steps_for({"kind": "pythia", "steps": "final"}) == [143000]
    assert steps_for({"kind": "crfm", "steps": "final"}) == [400000]
    assert steps_for({"kind": "pythia", "steps": [1000, 0]}) == [0, 1000]


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "pythia", "sizes": ["70m"], "steps": "pythia-lgo"},
        {"kind": "pythia", "sizes": ["70m"], "steps": [1500]},  # no such branch
        {"kind": "crfm", "sizes": ["small"], "steps": "pythia-early"},
        {"kind": "pythia", "sizes": ["70m"], "steps": [0, 0]},
        {"kind": "local", "path_pattern": "x/{step}", "steps": "final"},
    ],
)
def test_bad_steps_raise(spec):
    with pytest.raises(UserError):
        plan("s", spec)


def test_pythia_plan():
    ck = plan("py", {"kind": "pythia", "sizes": ["70m", "160m"], "steps": "pythia-log"})
    assert len(ck) == 2 * 154 and {c.seed for c in ck} == {0}
    assert ck[1] == Checkpoint("py", "70m", 0, 1, "EleutherAI/pythia-70m", "step1", None)
    dd = plan("dd", {"kind": "pythia", "sizes": ["410m"], "deduped": True, "steps": [1000]})
    assert [(c.repo, c.revision) for c in dd] == [("EleutherAI/pythia-410m-deduped", "step1000")]
    with pytest.raises(UserError, match="14m"):
        plan("dd", {"kind": "pythia", "sizes": ["14m"], "deduped": True})


def test_polypythia_plan_full_grid():
    ck = plan(
        "pp",
        {
            "kind": "polypythia",
            "sizes": ["14m", "31m", "70m", "160m", "410m"],
            "seeds": list(range(10)),
        },
    )
    assert len(ck) == 5 * 10 * 154 == len(set(ck))
    repos = {(c.model, c.seed): c.repo for c in ck}
    assert repos["160m", 0] == "EleutherAI/pythia-160m"
    assert repos["160m", 3] == "EleutherAI/pythia-160m-seed3"
    assert repos["410m", 9] == "EleutherAI/pythia-410m-seed9"
    assert all(c.revision == f"step{c.step}" for c in ck)
    ds = plan(
        "ds", {"kind": "polypythia", "variant": "data-seed", "seeds": [1, 2, 3], "steps": [143000]}
    )
    assert [c.repo for c in ds] == [f"EleutherAI/pythia-160m-data-seed{k}" for k in (1, 2, 3)]
    ws = plan(
        "ws",
        {
            "kind": "polypythia",
            "variant": "weight-seed",
            "sizes": ["160m"],
            "seeds": [2],
            "steps": [0],
        },
    )
    assert ws[0].repo == "EleutherAI/pythia-160m-weight-seed2" and ws[0].revision == "step0"
    for bad in (
        {"sizes": ["1b"]},
        {"sizes": ["70m"], "seeds": [10]},
        {"variant": "data-seed", "sizes": ["70m"]},
        {"variant": "data-seed", "seeds": [4]},
        {"variant": "order-seed"},
    ):
        with pytest.raises(UserError):
            plan("bad", {"kind": "polypythia", "sizes": ["160m"], **bad})


def test_crfm_plan():
    ck = plan("c", {"kind": "crfm", "sizes": ["small", "medium"], "steps": "final"})
    assert [c.repo for c in ck] == [
        "stanford-crfm/alias-gpt2-small-x21",
        "stanford-crfm/battlestar-gpt2-small-x49",
        "stanford-crfm/caprica-gpt2-small-x81",
        "stanford-crfm/darkmatter-gpt2-small-x343",
        "stanford-crfm/expanse-gpt2-small-x777",
        "stanford-crfm/arwen-gpt2-medium-x21",
        "stanford-crfm/beren-gpt2-medium-x49",
        "stanford-crfm/celebrimbor-gpt2-medium-x81",
        "stanford-crfm/durin-gpt2-medium-x343",
        "stanford-crfm/eowyn-gpt2-medium-x777",
    ]
    assert {c.revision for c in ck} == {"checkpoint-400000"} and [c.seed for c in ck[:5]] == [
        0,
        1,
        2,
        3,
        4,
    ]
    named = plan(
        "c", {"kind": "crfm", "sizes": ["small"], "seeds": ["caprica", 4], "steps": [10, 2000]}
    )
    assert [(c.seed, c.revision) for c in named] == [
        (2, "checkpoint-10"),
        (2, "checkpoint-2000"),
        (4, "checkpoint-10"),
        (4, "checkpoint-2000"),
    ]
    with pytest.raises(UserError):
        plan("c", {"kind": "crfm", "sizes": ["small"], "seeds": ["arwen"]})


def test_final_and_local_plans():
    models = {"gpt2": "gpt2", "neo": {"repo": "EleutherAI/gpt-neo-125m", "revision": "v2"}}
    ck = plan("f", {"kind": "final", "revision": "r1", "models": models})
    assert [(c.model, c.repo, c.revision, c.seed, c.step) for c in ck] == [
        ("gpt2", "gpt2", "r1", 0, 0),
        ("neo", "EleutherAI/gpt-neo-125m", "v2", 0, 0),
    ]
    for bad in (
        {"models": {"gpt2": "gpt2"}},
        {"models": {"gpt2": "gpt2"}, "revision": "main"},
        {"models": []},
    ):
        with pytest.raises(UserError):
            plan("f", {"kind": "final", **bad})
    pattern = "runs/{model}/s{seed}/step{step}"
    loc = plan(
        "l",
        {
            "kind": "local",
            "path_pattern": pattern,
            "models": ["a", "b"],
            "seeds": [0, 1],
            "steps": [0, 10],
        },
    )
    assert len(loc) == 8 and loc[3].path == "runs/a/s1/step10" and loc[3].repo is None
    with pytest.raises(UserError, match="model"):
        plan(
            "l",
            {
                "kind": "local",
                "path_pattern": "runs/s{seed}/step{step}",
                "models": ["a", "b"],
                "steps": [0],
            },
        )
    with pytest.raises(UserError, match="kind"):
        plan("x", {"kind": "pythya"})


# ---------- resolve against a hub cache laid out by hand ----------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    cfg = GPTNeoXConfig(
        vocab_size=97,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    d = tmp_path_factory.mktemp("tiny")
    GPTNeoXForCausalLM(cfg).save_pretrained(d)
    return d


@pytest.fixture
def hub_cache(tiny_dir, tmp_path, monkeypatch):
    """cache/models--EleutherAI--pythia-14m with refs/step1000 -> COMMIT -> snapshots/COMMIT/."""
    import huggingface_hub.constants

    repo = tmp_path / "cache" / "models--EleutherAI--pythia-14m"
    shutil.copytree(tiny_dir, repo / "snapshots" / COMMIT)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "step1000").write_text(COMMIT)  # no newline: the hub reads the file verbatim
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return tmp_path / "cache"


def _ck(revision):
    return Checkpoint("pp", "14m", 0, 1000, "EleutherAI/pythia-14m", revision, None)


def test_resolve_from_offline_cache(hub_cache):
    from transformers import AutoModelForCausalLM

    path = resolve(_ck("step1000"), cache_dir=str(hub_cache))
    assert path == hub_cache / "models--EleutherAI--pythia-14m" / "snapshots" / COMMIT
    assert AutoModelForCausalLM.from_pretrained(path).config.vocab_size == 97


def test_resolve_errors_are_one_line(hub_cache, tmp_path):
    with pytest.raises(UserError) as e:
        resolve(_ck("step2000"), cache_dir=str(hub_cache))
    msg = str(e.value)
    assert "\n" not in msg and "EleutherAI/pythia-14m@step2000" in msg and "offline" in msg
    for rev in ("main", None):
        with pytest.raises(UserError, match="explicit revision"):
            resolve(_ck(rev), cache_dir=str(hub_cache))
    with pytest.raises(UserError, match="config.json"):
        resolve(Checkpoint("l", "m", 0, 0, None, None, str(tmp_path / "nowhere")))


def test_resolve_local(tiny_dir):
    assert resolve(Checkpoint("l", "m", 0, 0, None, None, str(tiny_dir))) == tiny_dir


# ---------- hashes and integrity ----------


def test_weights_hash_and_integrity(tiny_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    a, b, c = (shutil.copytree(tiny_dir, tmp_path / n) for n in "abc")
    assert weights_hash(a) == weights_hash(b)
    w = load_file(c / "model.safetensors")
    k = next(iter(w))
    w[k] = w[k].clone()
    w[k].view(-1)[0] += 1.0
    save_file(w, c / "model.safetensors", metadata={"format": "pt"})
    assert weights_hash(c) != weights_hash(a)

    ck = [Checkpoint("s", "m", 0, s, "r", f"step{s}", None) for s in (0, 1, 2, 4)]
    other = Checkpoint(
        "s", "m", 1, 2, "r1", "step2", None
    )  # another seed: same bytes are not a duplicate
    paths = {ck[0]: c, ck[1]: a, ck[2]: None, ck[3]: b, other: a}
    t = integrity_table([*ck, other], paths)
    assert list(t.columns) == [
        "suite",
        "model",
        "seed",
        "step",
        "repo",
        "revision",
        "status",
        "sha256",
        "duplicate_of",
        "note",
    ]
    # both copies are flagged: nothing says which of two identical steps is the genuine one
    assert t["status"].tolist() == ["ok", "duplicate", "missing", "duplicate", "ok"]
    assert t["duplicate_of"].tolist()[1] == 4 and t["duplicate_of"].tolist()[3] == 1
    assert t["sha256"].isna().tolist() == [False, False, True, False, False]
    t2 = integrity_table([ck[3], ck[1]], paths)
    assert t2["status"].tolist() == ["duplicate", "duplicate"]


def test_fast_hash_uses_blob_names_of_a_hub_cache(tiny_dir, tmp_path):
    from lmdyn.core.integrity import fast_hash

    blob = tmp_path / "blobs" / ("ab" * 32)
    blob.parent.mkdir()
    shutil.copy(tiny_dir / "model.safetensors", blob)
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "model.safetensors").symlink_to(blob)
    assert fast_hash(snap).startswith("blobs:")
    assert fast_hash(tiny_dir) == weights_hash(tiny_dir)


def test_resolve_online_hub_errors_become_user_errors(monkeypatch):
    """Online failures (stubbed: no network in tests) are converted too, naming repo@revision."""
    import httpx2
    import huggingface_hub
    import huggingface_hub.constants
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    response = httpx2.Response(404, request=httpx2.Request("GET", "https://huggingface.co/api"))
    for err, word in (
        (RevisionNotFoundError, "no such branch"),
        (RepositoryNotFoundError, "not found"),
    ):

        def fail(*args, err=err, **kwargs):
            assert kwargs["local_files_only"] is False
            raise err("404 Client Error\nlong server text", response=response)

        monkeypatch.setattr(huggingface_hub, "snapshot_download", fail)
        with pytest.raises(UserError) as e:
            resolve(_ck("step1000"))
        assert (
            "\n" not in str(e.value)
            and "EleutherAI/pythia-14m@step1000" in str(e.value)
            and word in str(e.value)
        )
