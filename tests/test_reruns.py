"""What a change costs: the jobs Snakemake plans and the tasks the engine computes after one
change to a finished run, on a local suite of tiny checkpoints (no training: adding a step is only
a config change, as for a published suite).

- an option of one family: that family's tasks, suite tables and figures; no metrics pass, no pair
  job, no table of family 1;
- a step added: that step's tasks only, the pair jobs that involve it, the tables;
- a family's library code edited: that family's tasks, and only those;
- a seed added: the new run's tasks only;
- the finished folder copied elsewhere: nothing.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_suites import SIZE
from test_workflow import REPO, SNAKEMAKE, make_corpus, tiny_families

from lmdyn.data.micro import build_model
from lmdyn.data.tokens import load_tokenizer, save_hf_tokenizer, train_bpe

STEPS = [0, 1, 2, 4, 8]
FAMILY_1 = {"pair_divergence", "model_tables", "suite_tables", "study_suite", "regression"}
TIMELINE = {"timeline_suite": 1, "figure_timeline": 1}  # reads every family's tables


def checkpoints(root: Path, corpus: Path) -> Path:
    """Tiny GPT-NeoX checkpoints at steps 0..8 (and 6) of seeds 0..2, with their tokenizer."""
    import pandas as pd

    texts = pd.read_json(corpus, lines=True).text.tolist()
    save_hf_tokenizer(train_bpe(texts, 300), str(root / "tokenizer"))
    tok = load_tokenizer(str(root / "tokenizer"))
    for seed in (0, 1, 2):
        for step in STEPS + [6]:
            path = root / f"seed{seed}" / f"step{step}"
            build_model("gpt_neox", len(tok), 64, SIZE, seed=1000 * seed + step).save_pretrained(
                path
            )
            tok.save_pretrained(path)
    return root


def config(tmp: Path, ck: Path, steps=STEPS, seeds=(0, 1), **sections) -> Path:
    suite = {
        "kind": "local",
        "path_pattern": str(ck / "seed{seed}" / "step{step}"),
        "seeds": list(seeds),
        "models": ["tiny"],
        "steps": list(steps),
    }
    return write_config(tmp, {"local": suite}, **sections)


def write_config(tmp: Path, suites: dict, **sections) -> Path:
    """The tiny workflow config of these suites in a new numbered file in ``tmp``; ``sections``
    update its sections key by key."""
    cfg = {
        # paths inside the run folder relative to it, so that the folder can be moved
        "corpus": {"source": "local", "path": "corpus.jsonl", "n_eval": 6, "seed": 3},
        "tokens": {"context_length": 32, "windows_per_doc": 1},
        "suites": suites,
        "regression": {"min_tag_count": 5},
        "study": {"n_boot": 50},
        **tiny_families(Path("corpus.jsonl")),
    }
    for section, values in sections.items():
        cfg[section] = {**cfg.get(section, {}), **values}
    path = tmp / f"config{len(list(tmp.glob('config*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def snakemake(workdir: Path, cfg: Path, *args, snakefile=None):
    cmd = SNAKEMAKE + ["--cores", "2", "--directory", str(workdir), "--configfile", str(cfg)]
    if snakefile:
        cmd[cmd.index("--snakefile") + 1] = str(snakefile)
    res = subprocess.run(cmd + list(args), capture_output=True, text=True, cwd=workdir)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    return res


def planned(workdir: Path, cfg: Path, snakefile=None) -> dict:
    """Jobs a dry run plans up to the checkpoints (what comes after them is planned as they end)."""
    res = snakemake(workdir, cfg, "-n", "--quiet", "rules", snakefile=snakefile)
    counts = {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", res.stdout, re.M)}
    return {r: n for r, n in counts.items() if r not in ("all", "total")}


def executed(workdir: Path, cfg: Path) -> dict:
    """Run the workflow: the jobs it ran, by rule."""
    res = snakemake(workdir, cfg)
    # grouped jobs are printed indented under their group job
    names = re.findall(r"^\s*(?:local)?(?:rule|checkpoint) (\w+):$", res.stdout + res.stderr, re.M)
    counts: dict = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    counts.pop("all", None)
    return counts


def computed(workdir: Path) -> dict:
    """(seed, step) -> the tasks each checkpoint job computed, from the jobs' logs."""
    out = {}
    for log in (workdir / "logs/checkpoint_tasks/local/tiny").glob("seed*.log"):
        seed = int(log.stem[4:])
        for step, tasks in re.findall(r"step (\d+): computed ([\w, ]+) \(", log.read_text()):
            out[(seed, int(step))] = tasks.split(", ")
    return out


def contents(root: Path, pattern: str) -> dict:
    """The files' bytes (links into the store: linked again, not recomputed, keeps them)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob(pattern))}


def snapshot(root: Path) -> dict:
    """Every table under results/ (the store aside): (mtime, bytes)."""
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(root.rglob("*"))
        if p.suffix in (".parquet", ".csv") and "store" not in p.parts
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reruns")
    make_corpus(tmp / "corpus.jsonl")
    ck = checkpoints(tmp_path_factory.mktemp("ck"), tmp / "corpus.jsonl")
    snakemake(tmp, config(tmp, ck))
    return tmp, ck


@pytest.fixture
def copy(finished, tmp_path):
    """The finished run folder copied elsewhere (files, mtimes, Snakemake's metadata)."""
    src, ck = finished
    dst = tmp_path / "copy"
    shutil.copytree(src, dst, symlinks=True)
    shutil.rmtree(dst / "logs/checkpoint_tasks")  # what a rerun computes is logged anew
    return dst, ck


@pytest.mark.workflow
def test_copied_run_folder_is_a_no_op(copy):
    tmp, ck = copy
    res = snakemake(tmp, config(tmp, ck), "-n")
    assert "Nothing to be done" in res.stdout + res.stderr, res.stdout[-2000:]


@pytest.mark.workflow
def test_an_option_of_one_family_recomputes_only_that_family(copy):
    tmp, ck = copy
    cfg = config(tmp, ck, neurons={"n_bins": 3})
    before = snapshot(tmp / "results")
    ran = executed(tmp, cfg)
    assert ran.pop("report_page") >= 1  # the report's pages of the tables rewritten
    assert ran == {
        "checkpoint_tasks": 2,  # one per run: loads each checkpoint, computes the neuron tables
        "task_identity": 1,  # the neurons family's, which its suite job reads
        "neurons_suite": 1,
        "figure_neurons": 1,
        **TIMELINE,  # it reads the neuron tables
    }, ran
    done = computed(tmp)
    assert set(done) == {(k, t) for k in (0, 1) for t in STEPS}
    assert all(tasks == ["neurons"] for tasks in done.values()), done
    after = snapshot(tmp / "results")
    assert set(after) == set(before)
    changed = {p for p in after if after[p][1] != before[p][1]}
    assert changed and all(p.startswith("neurons/") for p in changed), sorted(changed)
    # rewritten unchanged: the neurons family's other tables and the other families' run tables
    # (the checkpoint job's outputs), nothing else
    touched = {p for p in after if after[p][0] != before[p][0]} - changed
    odd = sorted(
        p
        for p in touched
        if not p.startswith(("neurons/", "runs/")) and "/tiny/seed" not in p and "timeline" not in p
    )
    assert not odd, odd
    assert not any(
        p.startswith(("tables/", "study/", "pairs/", "regression/")) and "timeline" not in p
        for p in touched
    )


def pairs_computed(workdir: Path) -> set:
    """Steps whose pair tables the pair jobs computed (the others came from the store)."""
    logs = (workdir / "logs/pair_divergence").rglob("*.log")
    return {int(t) for log in logs for t in re.findall(r"step (\d+): computed", log.read_text())}


@pytest.mark.workflow
def test_a_step_added_computes_only_that_step(copy):
    tmp, ck = copy
    shutil.rmtree(tmp / "logs/pair_divergence")
    # two pair jobs of three steps each (the finished run had one per step): both rerun, and
    # compute steps 6 and 8 only (8's previous step is now 6); the other steps' tables are the
    # same as before (their links are made again, as their pair jobs ran)
    cfg = config(tmp, ck, steps=[0, 1, 2, 4, 6, 8], metrics={"pair_jobs": 2})
    pairs = contents(tmp / "results/pairs/local", "*_step[0124].parquet")
    ran = executed(tmp, cfg)
    assert ran["checkpoint_tasks"] == 2 and ran["pair_divergence"] == 2, ran
    assert pairs_computed(tmp) == {6, 8}
    done = computed(tmp)
    assert set(done) == {(0, 6), (1, 6)}, done  # every other step from the store
    assert done[(0, 6)] == ["metrics", "probe", "anisotropy", "layers", "geometry", "neurons"]
    assert contents(tmp / "results/pairs/local", "*_step[0124].parquet") == pairs


@pytest.mark.workflow
def test_editing_a_family_code_reruns_only_its_tasks(copy):
    tmp, ck = copy
    repo = tmp / "repo"
    repo.mkdir()
    for part in ("Snakefile", "rules", "scripts", "config", "report", "envs"):
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, repo / part)
    lens = repo / "scripts/lmdyn/neurons/lens.py"
    lens.write_text(lens.read_text() + "\n# an edit\n")
    # the checkpoint jobs rerun (the neurons task's code version is in their params; what they
    # recompute, only that task, is tests/test_engine.py's), then the neurons family's jobs only
    plan = planned(tmp, config(tmp, ck), snakefile=repo / "Snakefile")
    assert plan.pop("report_page") >= 1, plan
    assert plan == {
        "checkpoint_tasks": 2,
        "task_identity": 1,
        "neurons_suite": 1,
        "figure_neurons": 1,
        **TIMELINE,
    }, plan
    figures = repo / "scripts/lmdyn/neurons/figures.py"  # figures never change a task's result
    lens.write_text(lens.read_text().replace("\n# an edit\n", ""))
    figures.write_text(figures.read_text() + "\n# an edit\n")
    assert "checkpoint_tasks" not in planned(tmp, config(tmp, ck), snakefile=repo / "Snakefile")


@pytest.mark.workflow
def test_a_seed_added_computes_only_the_new_run(copy):
    tmp, ck = copy
    cfg = config(tmp, ck, seeds=(0, 1, 2))
    ran = executed(tmp, cfg)
    assert ran["checkpoint_tasks"] == 1, ran  # the new run only
    assert ran["pair_divergence"] == len(STEPS)  # every step has new seed pairs
    assert {k for k, _ in computed(tmp)} == {2}
    assert not FAMILY_1 - set(ran), (FAMILY_1 - set(ran), ran)
    res = snakemake(tmp, cfg, "-n")  # all of it in that one run
    assert "Nothing to be done" in res.stdout + res.stderr, res.stdout[-2000:]
