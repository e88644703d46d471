"""Hub checkpoints through the real client against a loopback hub (tests/hubserver.py): integrity
from metadata before any download, downloads in the run's job with a bounded disk, and faults (a
dropped transfer, transient answers, a missing branch, a corrupt blob)."""

import logging
import threading
import time

import numpy as np
import pytest
from conftest import TUNING, tiny_model, write_inputs
from test_evaluate import VOCAB, token_table
from test_suites import run as run_workflow
from test_suites import save_checkpoint
from test_workflow import make_corpus

from lmdyn.core import hub as hubmod
from lmdyn.core.engine import Engine, Run, Task
from lmdyn.core.errors import UserError
from lmdyn.core.integrity import fast_hash, run_integrity
from lmdyn.core.loader import Loader
from lmdyn.core.registry import Checkpoint, as_checkpoint, encode
from lmdyn.core.store import Store, TaskSpec
from lmdyn.divergence.task import Metrics

REPO = "EleutherAI/pythia-14m-seed3"


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def logger(name="hubtest"):
    log = logging.getLogger(name)
    log.handlers, log.propagate = [h := Lines()], False
    log.setLevel(logging.INFO)
    return log, h.lines


def serve(hub, tmp_path, steps, same=None):
    """Tiny checkpoints of REPO at ``steps`` (branch step{N}); ``same``: step -> step whose files
    its branch serves (a duplicate)."""
    for step in steps:
        d = tmp_path / "built" / f"step{step}"
        tiny_model("gpt_neox", seed=(same or {}).get(step, step)).save_pretrained(d)
        hub.add(REPO, f"step{step}", d)


def refs_of(steps, cache):
    return [
        encode(Checkpoint("pp", "14m", 3, s, REPO, f"step{s}", None), str(cache)) for s in steps
    ]


def weight_blobs(hub, cache):
    """Weight files of the served checkpoints on disk in the cache (downloads in progress too)."""
    shas = {e["lfs"]["oid"] for c in hub.commits for e in hub.entries(c) if "lfs" in e}
    blobs = cache / f"models--{REPO.replace('/', '--')}" / "blobs"
    return [f for f in blobs.glob("*") if f.name.split(".")[0] in shas] if blobs.is_dir() else []


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(hubmod, "BACKOFF_S", 0.01)


def test_integrity_from_metadata_before_any_download(loopback_hub, tmp_path):
    """A missing branch and a duplicate found from the hub's sha256s alone: no file is fetched,
    each branch is asked once; the hashes are those of the snapshots once downloaded."""
    serve(loopback_hub, tmp_path, [0, 1, 2, 4], same={4: 2})
    cache, log_lines = tmp_path / "hf", None
    log, log_lines = logger()
    resolved = {}
    refs = refs_of([0, 1, 2, 4, 8], cache)
    table = run_integrity(refs, log, resolved)
    assert table.status.tolist() == ["ok", "ok", "duplicate", "duplicate", "missing"]
    assert table.duplicate_of.tolist()[2:4] == [4, 2]
    assert [ln for ln in log_lines if "step8" in ln] == [
        f"checkpoint {REPO}@step8 does not exist: no such branch on the Hub"
    ]
    assert loopback_hub.requests(pattern="/resolve/") == []  # nothing downloaded
    asked = [r.path for r in loopback_hub.requests(pattern="/revision/")]
    assert sorted(asked) == sorted(set(asked)) and len(asked) == 5
    assert sorted(resolved) == ["0", "1", "2", "4"]
    # the metadata's hash is the downloaded snapshot's (blob names), and offline the cache's
    path, _ = hubmod.Downloads(str(cache), tmp_path / "ledgers").fetch(
        as_checkpoint(refs[1]), hubmod.Resolution(**resolved["1"])
    )
    assert fast_hash(path) == table.sha256[1]


def test_offline_integrity_from_the_cache(loopback_hub, tmp_path, monkeypatch):
    serve(loopback_hub, tmp_path, [0, 1])
    cache = tmp_path / "hf"
    refs, resolved = refs_of([0, 1], cache), {}
    online = run_integrity(refs, None, resolved)
    downloads = hubmod.Downloads(str(cache), tmp_path / "ledgers")
    _, dl = downloads.fetch(as_checkpoint(refs[0]), hubmod.Resolution(**resolved["0"]))
    downloads.evict(dl)  # step 0: downloaded and removed again; step 1: never downloaded
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = len(loopback_hub.log)
    ck = as_checkpoint(refs[0])
    assert hubmod.resolve(ck, str(cache)).weights_sha() == online.sha256[0]  # the cached file list
    with pytest.raises(UserError, match=rf"^checkpoint {REPO}@step1 is not in the Hugging Face"):
        run_integrity(refs, None)
    assert len(loopback_hub.log) == n  # offline: the hub is never asked


def test_a_rerun_asks_the_hub_once_per_repository(loopback_hub, tmp_path):
    """Resolving a run again lists the repository's branches once and asks no revision info for
    a commit the client has listed in the cache (downloaded once, evicted or not); a branch that
    moved to a new commit is asked again; the tables are the same as from the revision info."""
    serve(loopback_hub, tmp_path, [0, 1, 2])
    cache = tmp_path / "hf"
    refs, first = refs_of([0, 1, 2, 8], cache), {}
    before = run_integrity(refs, None, first)
    downloads = hubmod.Downloads(str(cache), tmp_path / "ledgers")
    for step in ("0", "1"):
        _, dl = downloads.fetch(as_checkpoint(refs[int(step)]), hubmod.Resolution(**first[step]))
        if step == "0":
            downloads.evict(dl)  # step 0 evicted after its download, step 1 kept
    n = len(loopback_hub.log)
    again = {}
    assert run_integrity(refs, None, again).equals(before) and again == first
    asked = [r.path for r in loopback_hub.log[n:]]
    assert [p for p in asked if "/refs" in p] == [f"/api/models/{REPO}/refs"]
    assert sorted(p.rsplit("/", 1)[1] for p in asked if "/revision/" in p) == ["step2", "step8"]
    # step 1's branch now serves other weights: its new commit is asked, its hash is new
    tiny_model("gpt_neox", seed=99).save_pretrained(tmp_path / "built/moved")
    loopback_hub.add(REPO, "step1", tmp_path / "built/moved")
    n, moved = len(loopback_hub.log), {}
    after = run_integrity(refs, None, moved)
    assert moved["1"]["commit"] != first["1"]["commit"] and after.sha256[1] != before.sha256[1]
    assert "/revision/step1" in " ".join(r.path for r in loopback_hub.log[n:])
    assert after.drop(index=1).equals(before.drop(index=1))


def test_a_dropped_transfer_is_resumed(loopback_hub, tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 1024)
    serve(loopback_hub, tmp_path, [1000])
    loopback_hub.drops["model.safetensors"] = 1
    cache, resolved = tmp_path / "hf", {}
    refs = refs_of([1000], cache)
    run_integrity(refs, None, resolved)
    path, dl = hubmod.Downloads(str(cache), tmp_path / "ledgers").fetch(
        as_checkpoint(refs[0]), hubmod.Resolution(**resolved["1000"])
    )
    gets = loopback_hub.requests("GET", "model.safetensors$")
    assert [g.status for g in gets] == [200, 206]  # the second asks for the rest only
    size = (tmp_path / "built/step1000/model.safetensors").stat().st_size
    start = int(gets[1].range.removeprefix("bytes=").rstrip("-"))
    assert 0 < start < size
    assert (path / "model.safetensors").read_bytes() == (
        tmp_path / "built/step1000/model.safetensors"
    ).read_bytes()


def test_transient_answers_are_retried_then_one_line(loopback_hub, tmp_path, fast_backoff):
    serve(loopback_hub, tmp_path, [1000])
    cache = tmp_path / "hf"
    ck = as_checkpoint(refs_of([1000], cache)[0])
    loopback_hub.fail("/revision/", 429, times=2)
    log, lines = logger("retries")
    res = hubmod.resolve(ck, str(cache), log)
    assert [r.status for r in loopback_hub.requests(pattern="/revision/")] == [429, 429, 200]
    assert sum("HTTP 429; retrying" in ln for ln in lines) == 2
    loopback_hub.fail("/revision/", 503, times=10)
    with pytest.raises(UserError) as e:
        hubmod.resolve(ck, str(cache))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"checkpoint {REPO}@step1000: revision info failed")
    assert f"{hubmod.RETRIES} times (HTTP 503" in msg
    # downloads: the client retries its own requests but a 503 on a file's bytes; that is
    # retried here, bounded, then one line
    downloads = hubmod.Downloads(str(cache), tmp_path / "ledgers")
    loopback_hub.fail("model.safetensors$", 503, times=100, method="GET")
    with pytest.raises(UserError, match=rf"{REPO}@step1000: download failed 4 times \(HTTP 503"):
        downloads.fetch(ck, res)
    assert len(loopback_hub.requests("GET", "model.safetensors$")) == hubmod.RETRIES
    loopback_hub.statuses.clear()
    loopback_hub.fail("model.safetensors$", 502, times=2, method="GET")
    path, _ = downloads.fetch(ck, res)
    assert (path / "model.safetensors").read_bytes() == (
        tmp_path / "built/step1000/model.safetensors"
    ).read_bytes()


def test_a_blob_that_does_not_match_its_sha256_is_corrupt(loopback_hub, tmp_path):
    serve(loopback_hub, tmp_path, [1000])
    cache, resolved = tmp_path / "hf", {}
    refs = refs_of([1000], cache)
    run_integrity(refs, None, resolved)
    loopback_hub.corrupt.add(f"{resolved['1000']['commit']}/model.safetensors")
    with pytest.raises(hubmod.Corrupt, match=rf"^checkpoint {REPO}@step1000 is corrupt: "):
        hubmod.Downloads(str(cache), tmp_path / "ledgers").fetch(
            as_checkpoint(refs[0]), hubmod.Resolution(**resolved["1000"])
        )
    assert weight_blobs(loopback_hub, cache) == []  # the bad bytes are not kept


class Slow(Task):
    """Test task: reads the loaded model and takes a while (the next download overlaps it)."""

    spec = TaskSpec("slow", needs="model", code=("core/engine.py",))
    files = ("n.npy",)
    seconds = 0.4

    def end(self, folder, ckpt):
        time.sleep(self.seconds)
        np.save(folder / "n.npy", np.array([sum(p.numel() for p in ckpt.model.parameters())]))


def engine_run(tmp_path, hub, steps, prefetch, keep=False, corrupt=()):
    """The engine over REPO's ``steps`` (resolved once, as fetch_run does) with the metrics task
    and a slow one; (status, the most weight files on disk at once, log lines)."""
    cache = tmp_path / "hf"
    refs, resolved = refs_of(steps, cache), {}
    table = run_integrity(refs, None, resolved)
    for s in corrupt:
        hub.corrupt.add(f"{resolved[str(s)]['commit']}/model.safetensors")
    rng = np.random.default_rng(0)
    inputs = write_inputs(
        tmp_path / "in", token_table(rng, [24]), np.log(np.full(VOCAB, 1 / VOCAB))
    )
    log, lines = logger(f"engine{prefetch}{keep}")
    run = Run(vocab=VOCAB, batch_size=2, log=log, prefetch=prefetch)
    from lmdyn.core.forward import windows_of

    run.windows = windows_of(__import__("pandas").read_parquet(inputs["tokens"]))
    run.loader = Loader(run, resolved, keep_weights=keep, ledgers=tmp_path / "ledgers")
    weights = {("14m", 3, int(r.step)): r.sha256 for r in table.itertuples()}
    tasks = [Metrics({"dtype": "float32"}, inputs, TUNING), Slow()]
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], len(weight_blobs(hub, cache)))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        status, _ = Engine(tasks, run, Store(tmp_path / "store"), weights).run_all(refs)
    finally:
        done.set()
        sampler.join()
    return status, peak[0], lines


@pytest.mark.parametrize("prefetch", [0, 1, 2])
def test_a_run_holds_at_most_prefetch_plus_one_downloads(loopback_hub, tmp_path, prefetch):
    """Every checkpoint downloaded once, while the one before computes; each removed once its
    tasks are stored; the disk never holds more than prefetch + 1 of them."""
    steps = [0, 1, 2, 4, 8]
    serve(loopback_hub, tmp_path, steps)
    loopback_hub.delay = 0.1
    status, peak, lines = engine_run(tmp_path, loopback_hub, steps, prefetch)
    assert (status.status == "ok").all()
    assert peak == prefetch + 1  # reached (downloads overlap compute) and never passed
    gets = loopback_hub.requests("GET", "model.safetensors$")
    assert len(gets) == len({g.path for g in gets}) == len(steps)  # each downloaded once
    assert loopback_hub.requests(pattern="/revision/")[len(steps) :] == []  # resolved once
    assert weight_blobs(loopback_hub, tmp_path / "hf") == []
    assert not list((tmp_path / "ledgers").rglob("*.json"))
    timing = [ln for ln in lines if ln.startswith("step 4: computed metrics, slow (download")]
    assert len(timing) == 1 and "load" in timing[0] and "compute" in timing[0]
    download_s = float(timing[0].split("(download ")[1].split("s,")[0])
    assert download_s >= loopback_hub.delay
    # a second run finds every task stored: nothing is downloaded again
    engine_run(tmp_path, loopback_hub, steps, prefetch)
    assert len(loopback_hub.requests("GET", "model.safetensors$")) == len(steps)


def test_cached_checkpoints_are_never_removed_and_keep_weights_keeps_all(loopback_hub, tmp_path):
    from huggingface_hub import snapshot_download

    steps = [0, 1, 2]
    serve(loopback_hub, tmp_path, steps)
    cache = tmp_path / "hf"
    # the user's own copy, from before
    mine = snapshot_download(
        REPO, revision="step1", cache_dir=str(cache), endpoint=loopback_hub.url
    )
    before = {f.name: f.read_bytes() for f in weight_blobs(loopback_hub, cache)}
    n = len(loopback_hub.requests("GET", "model.safetensors$"))
    status, _, _ = engine_run(tmp_path, loopback_hub, steps, 1)
    assert (status.status == "ok").all()
    assert {f.name: f.read_bytes() for f in weight_blobs(loopback_hub, cache)} == before
    assert (tmp_path / "hf" / mine / "model.safetensors").exists()
    assert len(loopback_hub.requests("GET", "model.safetensors$")) == n + 2  # steps 0 and 2
    status, _, _ = engine_run(tmp_path / "keep", loopback_hub, steps, 1, keep=True)
    assert len(weight_blobs(loopback_hub, tmp_path / "keep" / "hf")) == 3


def test_a_corrupt_download_fails_its_step_only(loopback_hub, tmp_path):
    steps = [0, 1, 2]
    serve(loopback_hub, tmp_path, steps)
    status, _, lines = engine_run(tmp_path, loopback_hub, steps, 1, corrupt=[1])
    assert status.status.tolist() == ["ok", "corrupt", "ok"]
    assert status.error[1].startswith(f"checkpoint {REPO}@step1 is corrupt: the downloaded")
    assert weight_blobs(loopback_hub, tmp_path / "hf") == []


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory):
    """A 300-token BPE of the workflow tests' corpus (as test_suites' checkpoints have)."""
    import pandas as pd

    from lmdyn.data.tokens import save_hf_tokenizer, train_bpe

    tmp = tmp_path_factory.mktemp("tok")
    make_corpus(tmp / "corpus.jsonl")
    texts = pd.read_json(tmp / "corpus.jsonl", lines=True).text.tolist()
    save_hf_tokenizer(train_bpe(texts, 300), str(tmp / "tokenizer"))
    return tmp / "tokenizer"


@pytest.mark.workflow
def test_workflow_against_the_loopback_hub(loopback_hub, tmp_path, bpe_dir):
    """A PolyPythia suite by its real names through HF_ENDPOINT, the workflow unchanged: the
    duplicate is never downloaded, each branch asked once per run, every download removed again
    and at most two checkpoints per run job on disk at once."""
    import pandas as pd

    repos = {3: f"{REPO[:-1]}3", 5: f"{REPO[:-1]}5"}
    for seed, repo in repos.items():
        for step in (0, 1, 2, 4):
            d = tmp_path / "built" / f"{seed}-{step}"
            # seed 5's step 4 serves its step 2's files; padded output rows, as in Pythia
            save_checkpoint(d, bpe_dir, seed, 2 if (seed, step) == (5, 4) else step, 320)
            loopback_hub.add(repo, f"step{step}", d)
    loopback_hub.delay = 0.05
    home = tmp_path / "hfhome"
    suite = {"kind": "polypythia", "sizes": ["14m"], "seeds": [3, 5], "steps": [0, 1, 2, 4]}
    peak, done = {}, threading.Event()

    def lfs(d):  # weight blobs (named by their sha256), downloads in progress too
        return [f for f in (d / "blobs").glob("*") if len(f.name.split(".")[0]) == 64]

    def sample():
        while not done.is_set():
            for d in (home / "hub").glob("models--*"):
                peak[d.name] = max(peak.get(d.name, 0), len(lfs(d)))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        run_workflow(tmp_path, suite, env={"HF_ENDPOINT": loopback_hub.url, "HF_HOME": str(home)})
    finally:
        done.set()
        sampler.join()
    r = tmp_path / "results"
    integrity = pd.read_csv(r / "integrity/real.csv")
    dup = integrity[integrity.status == "duplicate"]
    assert sorted(zip(dup.seed, dup.step)) == [(5, 2), (5, 4)]
    gets = [g.path for g in loopback_hub.requests("GET", "model.safetensors$")]
    assert len(gets) == len(set(gets)) == 6  # seed 3's four and seed 5's two sound ones, once each
    assert not any(repos[5] in g and ("step2" in g or "step4" in g) for g in gets)
    asked = [g.path for g in loopback_hub.requests(pattern="/revision/")]
    assert len(asked) == len(set(asked)) == 8  # each branch resolved once, the tokenizer's too
    assert 0 < max(peak.values()) <= 2  # prefetch 1: the one computing and the next
    # every download removed once its tasks were stored
    assert [f for d in (home / "hub").glob("models--*") for f in lfs(d)] == []
    log = (tmp_path / "logs/checkpoint_tasks/real/14m/seed3.log").read_text()
    assert "download" in log and "removed its download from the cache" in log
    assert (r / "pairs/real/seeds_step1.parquet").exists()
    assert (r / "hidden/real/14m/seed3/step1.unembed.npy").exists()
