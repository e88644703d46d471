"""Family 1's job planning (lmdyn.divergence.jobs) on the default micro suite, with the steps
analysed given by hand as the checkpoints would give them: a step missing for one model, a model
whose first step is not 0, one model, one seed."""

import copy

import pytest
from test_targets import default_config, with_final_suite

from lmdyn.core import outputs
from lmdyn.core.workflow import Suites
from lmdyn.divergence import jobs

SEEDS = [0, 1, 2]


@pytest.fixture
def cfg():
    return default_config()


@pytest.fixture
def suites(cfg):
    return Suites(cfg)


# micro-m lacks step 4 (not sound for one of its seeds); micro-s lacks 512 (failed forward pass)
STEPS = {"micro-s": [0, 1, 2, 4, 8, 256], "micro-m": [0, 1, 2, 8, 256, 512]}


def test_common_steps_and_sides():
    assert jobs.common_steps(STEPS) == [0, 1, 2, 8, 256]
    assert jobs.sides({"a": [3, 5]}, [0, 1]) == [("a", 0, 3), ("a", 1, 3), ("a", 0, 5), ("a", 1, 5)]


def test_metrics_sides_of_one_model_or_of_the_common_steps(suites):
    one = jobs.metrics_sides(suites, "micro", STEPS, "micro-m")
    assert one == jobs.sides({"micro-m": STEPS["micro-m"]}, SEEDS)
    every = jobs.metrics_sides(suites, "micro", STEPS)
    assert {t for _, _, t in every} == set(jobs.common_steps(STEPS))
    assert len(every) == 2 * 3 * 5


def test_a_pair_job_compares_what_is_analysed_at_its_step(suites):
    job = jobs.pair_job(suites, "micro", STEPS, "8")
    assert job == {
        "step": 8,
        "models": ["micro-s", "micro-m"],
        "seeds": SEEDS,
        "prev": {"micro-s": 4, "micro-m": 2},  # micro-m's previous analysed step skips 4
        "sizes": True,
    }
    four = jobs.pair_job(suites, "micro", STEPS, 4)
    assert four["models"] == ["micro-s"] and four["sizes"] is False  # not every model has 4
    first = jobs.pair_job(suites, "micro", STEPS, 0)
    assert first["prev"] == {"micro-s": None, "micro-m": None}


def test_a_pair_job_reads_its_step_and_each_previous_one(suites):
    job = jobs.pair_job(suites, "micro", STEPS, 8)
    sides = jobs.pair_sides(job)
    assert sides[:6] == [("micro-s", k, t) for t in (8, 4) for k in SEEDS]
    assert len(sides) == 12 and len(jobs.pair_sides(jobs.pair_job(suites, "micro", STEPS, 0))) == 6
    ck = jobs.pair_checkpoints(suites, "micro", STEPS, 8)
    assert list(ck) == [f"{m}/{k}/{t}" for m, k, t in sides]
    assert ck["micro-m/1/2"] == {
        "hidden": "results/hidden/micro/micro-m/seed1/step2.npy",
        "unembed": "results/hidden/micro/micro-m/seed1/step2.unembed.npy",
    }


def test_pair_inputs_are_the_stored_hidden_folders_only(cfg, suites):
    files = jobs.pair_inputs(suites, "micro", STEPS, 4)
    assert files == {"hidden": [f"results/hidden/micro/micro-s/seed{k}" for k in SEEDS]}
    published = Suites(with_final_suite(cfg))
    steps = {"small": [0]}
    assert jobs.pair_inputs(published, "gpt2", steps, 0) == {
        "hidden": ["results/hidden/gpt2/small/seed0"],  # no checkpoint: W_U is stored too
    }


def test_model_inputs_are_the_files_the_model_tables_read(suites):
    files = jobs.model_files(suites, "micro", STEPS, "micro-m")
    assert list(files["metrics"]) == SEEDS
    assert list(files["metrics"][1]) == STEPS["micro-m"]
    assert files["metrics"][1][8] == "results/metrics/micro/micro-m/seed1/step8.parquet"
    assert files["seed_pairs"][512] == "results/pairs/micro/seeds_step512.parquet"
    inputs = jobs.model_inputs(suites, "micro", STEPS, "micro-m")
    assert inputs["metrics"] == [f"results/metrics/micro/micro-m/seed{k}" for k in SEEDS]
    assert inputs["seed_pairs"] == list(files["seed_pairs"].values())
    assert inputs["step_pairs"] == list(files["step_pairs"].values())


def test_size_pairs_only_with_two_models():
    assert list(jobs.size_files("micro", STEPS)) == jobs.common_steps(STEPS)
    assert jobs.size_files("micro", {"micro-s": STEPS["micro-s"]}) == {}
    inputs = jobs.study_inputs("micro", STEPS)
    assert set(inputs) == set(jobs.STUDY_TABLES) | {"features", "integrity", "summary", "sizes"}
    assert inputs["sigma"] == [f"results/study/micro/{m}/sigma.parquet" for m in STEPS]
    assert inputs["sizes"] == list(jobs.size_files("micro", STEPS).values())


def test_the_regression_reads_seed_pairs_or_metrics(cfg, suites):
    files = jobs.regression_files(cfg, suites, "micro", STEPS)
    assert {r["seed"] for r in files} == {None}  # kl_seeds: the seed pair tables
    assert len(files) == 2 * 5
    other = copy.deepcopy(cfg)
    other["regression"]["metric"] = "nll"
    files = jobs.regression_files(other, suites, "micro", STEPS)
    assert len(files) == 2 * 5 * 3 and files[0]["path"].startswith("results/metrics/")
    assert jobs.regression_step(cfg, STEPS) == 256
    assert jobs.regression_step({"regression": {"step": 8}}, STEPS) == 8


def test_a_one_seed_suite_regresses_the_fallback_and_says_so(cfg):
    c = with_final_suite(cfg)
    suites = Suites(c)
    assert jobs.regression_metric(c, suites, "micro") == "kl_seeds"
    assert jobs.regression_metric(c, suites, "gpt2") == "kl_unigram"
    skipped = jobs.skipped(c, suites, "gpt2")
    assert [s["comparison"] for s in skipped["skipped"]] == ["seeds", "steps", "sizes"]
    assert "kl_seeds needs two seeds" in skipped["regression_note"]
    assert jobs.skipped(c, suites, "micro") == {"skipped": [], "regression_note": None}
    files = jobs.regression_files(c, suites, "gpt2", {"small": [0]})
    assert files == [
        {
            "model": "small",
            "step": 0,
            "seed": 0,
            "path": "results/metrics/gpt2/small/seed0/step0.parquet",
        }
    ]


def test_study_outputs_are_declared_and_their_captions_exist(suites):
    out = jobs.study_outputs()
    assert list(out)[:2] == ["curves", "curves_parquet"]
    assert len(out) == 2 * len(jobs.STUDY_SUITE_TABLES)
    for path, report in out.values():
        assert outputs.spec_of(path.format(suite="micro").removeprefix("results/")) is not None
        assert report is None  # the report shows them as HTML pages (lmdyn.core.report)
    for f in jobs.table_targets("micro") + jobs.study_targets("micro"):
        assert outputs.spec_of(f.removeprefix("results/")) is not None, f


def test_figures_follow_the_comparisons_a_suite_has(suites):
    names = jobs.figure_names(suites, "micro")
    assert names[:2] == ["kl_reference", "regression"]
    assert {"kl_seeds", "sizes", "phases", "sigma_micro-s", "learnability_micro-m"} <= set(names)


def test_pair_jobs_cut_the_steps_into_runs_of_consecutive_steps(cfg):
    every = sorted(set(STEPS["micro-s"]) | set(STEPS["micro-m"]))  # 7 steps with a pair job
    for n, lengths in ((1, [7]), (3, [2, 2, 3]), (7, [1] * 7), (20, [1] * 7)):
        cfg["metrics"]["pair_jobs"] = n
        suites = Suites(cfg)
        blocks = jobs.pair_blocks(suites, STEPS)
        assert [len(b) for b in blocks] == lengths and sum(blocks, []) == every
        for i, block in enumerate(blocks):
            assert all(jobs.pair_block_of(suites, STEPS, t) == i for t in block)
    cfg["metrics"]["pair_jobs"] = 3
    suites = Suites(cfg)
    assert [j["step"] for j in jobs.pair_block_jobs(suites, "micro", STEPS, 2)] == [8, 256, 512]
    sides = jobs.pair_block_sides(suites, "micro", STEPS, 2)
    assert len(sides) == len(set(sides)) and ("micro-m", 0, 2) in sides  # 8's previous step
    ck = jobs.pair_block_checkpoints(suites, "micro", STEPS, 2)
    assert list(ck) == [f"{m}/{k}/{t}" for m, k, t in sides]
    assert jobs.pair_step_manifest(suites, "micro", STEPS, 256) == jobs.pair_manifest("micro", 2)


def test_a_steps_pair_key_follows_what_it_reads_only(suites):
    job = jobs.pair_job(suites, "micro", STEPS, 8)
    weights = {f"{m}/{k}/{t}": f"w{m}{k}{t}" for m, k, t in jobs.sides(STEPS, SEEDS)}
    entries = {"task": {"options": {}}, "weights": weights}
    options = {"vocab_chunk": 2048}
    key = jobs.pair_key(job, entries, options)
    other = dict(weights, **{"micro-s/0/256": "changed"})  # a step this job does not read
    assert jobs.pair_key(job, {**entries, "weights": other}, options) == key
    read = dict(weights, **{"micro-s/0/4": "changed"})  # its previous step
    assert jobs.pair_key(job, {**entries, "weights": read}, options) != key
    assert jobs.pair_key(job, entries, {"vocab_chunk": 1024}) != key
