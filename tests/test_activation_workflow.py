"""Layer geometry and token neurons through the real workflow on the tiny config (one job per run,
the checkpoint job, is the only job that reads checkpoints)."""

import numpy as np
import pandas as pd
import pytest
import yaml
from test_workflow import make_corpus, snakemake, tiny_config

NEURON_TABLES = (
    "summary",
    "lens",
    "layer_patch",
    "neuron_patch",
    "top_neuron",
    "outliers",
    "exclusive",
    "target_congruence",
    "activation",
)
FIGURES = (
    "geometry_accuracy",
    "geometry_norms",
    "geometry_pca",
    "geometry_attribution",
    "neurons_lens",
    "neurons_patching",
    "neurons_emergence",
    "neurons_activation",
)
# the suite tables and the figures, which have their own rules (figure_geometry, figure_neurons)
TARGETS = ["results/geometry/micro/accuracy.csv", "results/neurons/micro/summary.csv"] + [
    f"results/figures/micro/{name}.png" for name in FIGURES
]


@pytest.fixture(scope="module")
def activation_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("act")
    make_corpus(tmp / "corpus.jsonl")
    cfg = tiny_config(tmp)
    snakemake(tmp, cfg, "--keep-going", *TARGETS)  # a flag first: --configfile takes several values
    return tmp, cfg


@pytest.mark.workflow
def test_geometry_and_neuron_tables(activation_run):
    tmp, _ = activation_run
    r = tmp / "results"
    steps = [0, 1, 2, 4, 8]
    acc = pd.read_csv(r / "geometry/micro/accuracy.csv")
    assert set(acc.step) == set(steps) and set(acc.model) == {"xs", "s"} and set(acc.seed) == {0, 1}
    assert {"raw", "normalised", "control", "transfer", "length"} <= set(acc.variant)
    assert (acc.chance == 0.5).all()  # 1 layer: embedding + one block
    ok = acc.dropna(subset=["ci_low"])
    assert ((ok.ci_low <= ok.accuracy + 1e-12) & (ok.accuracy <= ok.ci_high + 1e-12)).all()
    norms = pd.read_csv(r / "geometry/micro/norms.csv")
    assert ((norms.norm_min <= norms.norm_mean) & (norms.norm_mean <= norms.norm_max)).all()
    att = pd.read_csv(r / "geometry/micro/attribution.csv")
    assert att.groupby(["model", "seed", "step"]).share.sum().to_numpy() == pytest.approx(1.0)

    s = pd.read_csv(r / "neurons/micro/summary.csv")
    assert len(s) == 2 * 2 * len(steps)
    assert (
        s[["p_a_clean", "p_b_clean", "p_a_corrupted", "p_b_corrupted"]].stack().between(0, 1).all()
    )
    lens = pd.read_csv(r / "neurons/micro/lens.csv")
    last = lens[lens.layer == lens.layer.max()].merge(
        s, on=["suite", "model", "seed", "step", "prompt"]
    )
    np.testing.assert_allclose(last.logit_diff, last.logit_diff_clean, atol=1e-4)
    # The prompts differ only at position 2: the clean embedding there is the whole difference.
    lp = pd.read_csv(r / "neurons/micro/layer_patch.csv")
    first = lp[(lp.component == "resid_pre") & (lp.layer == 0)]
    assert not lp.small_gap.any() and lp.restored.notna().all()  # min_gap 0: always defined
    np.testing.assert_allclose(first[first.position == 2].restored, 1.0, atol=1e-4)
    np.testing.assert_allclose(first[first.position != 2].restored, 0.0, atol=1e-4)
    ex = pd.read_csv(r / "neurons/micro/exclusive.csv")
    assert ex.groupby(["model", "seed", "step"]).size().max() <= 20
    for name in FIGURES:
        assert (r / f"figures/micro/{name}.png").stat().st_size > 1000
    # one job per run, never one per checkpoint; the checkpoint job is the only reader of
    # checkpoints: it computes the neuron tables (a line per checkpoint) and both corpora's states
    runs = [f"{m}/seed{k}" for m in ("s", "xs") for k in (0, 1)]
    logs = sorted((tmp / "logs/checkpoint_tasks/micro").rglob("*.log"))
    assert [p.relative_to(tmp / "logs/checkpoint_tasks/micro").as_posix() for p in logs] == [
        f"{r}.log" for r in runs
    ]
    for family in ("geometry_run", "neurons_run", "run_metrics", "probe_run"):
        assert not (tmp / "logs" / family).exists()
    for run in runs:
        log = (tmp / "logs/checkpoint_tasks/micro" / f"{run}.log").read_text()
        assert log.count("farmer logit difference clean") == len(steps), log
        assert all(f"step {t}: computed metrics, probe" in log for t in steps), log
        assert sorted(p.name for p in (r / "neurons/micro" / run).glob("*.parquet")) == sorted(
            f"{name}.parquet" for name in NEURON_TABLES
        )
        table = pd.read_parquet(r / "neurons/micro" / run / "summary.parquet")
        assert sorted(table.step.unique()) == sorted(steps)
    # the states of both corpora are in the store, one entry per checkpoint and run
    entries = sorted((r / "store/layers").glob("*/*/states.npz"))
    assert len(entries) == len(runs) * len(steps)
    with np.load(entries[0]) as z:
        assert z["transfer_states"].shape[:3] == (2, 8, 8)


@pytest.mark.workflow
def test_multi_token_target_is_one_line(activation_run):
    tmp, cfg = activation_run
    bad = yaml.safe_load(cfg.read_text())
    bad["neurons"]["targets"] = [" the", " treasury"]
    path = tmp / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    res = snakemake(tmp, path, "--keep-going", "results/neurons/micro/summary.csv", check=False)
    assert res.returncode != 0
    # the suite's tokenizer exists by now: the config check names the target before any job
    lines = [l for l in res.stderr.splitlines() if l.startswith("lmdyn") and "warning" not in l]
    assert (
        lines and "' treasury'" in lines[0] and "'farmer'" in lines[0] and "splits into" in lines[0]
    ), res.stderr[-2000:]
