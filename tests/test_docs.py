"""The documentation: generated sections current, links that resolve inside the repository, the
figures it shows produced by the default workflow and copied by tools/docs.py, the README's test
command as CI reads it, and config/local.yaml validating and planning against tiny checkpoints."""

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_targets import default_config
from test_workflow import SNAKEMAKE, make_corpus, tiny_families

from lmdyn.core import targets
from lmdyn.core.errors import UserError
from lmdyn.core.workflow import Suites, check_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schemas" / "config.schema.yaml"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
TEST_COMMAND = 'python3 -m venv .venv && .venv/bin/pip install -q -e ".[test]" && .venv/bin/python -m pytest -q'


def _tool():
    spec = importlib.util.spec_from_file_location("docs_tool", REPO / "tools" / "docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


docs_tool = _tool()


def prose(text: str) -> str:
    """A page without its fenced code blocks and inline code (links there are not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def links(page: Path) -> list[str]:
    return [t for t in LINK.findall(prose(page.read_text())) if not re.match(r"\w+:", t)]


def slug(heading: str) -> str:
    """The anchor a markdown renderer gives a heading (GitHub's rule)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    heads = re.findall(
        r"^#{1,6} (.+)$", re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S), re.M
    )
    return {slug(h) for h in heads}


def test_generated_sections_are_current():
    """docs/outputs.md is the table specs' markdown, docs/configuration.md the schema's."""
    assert docs_tool.stale() == [], "run: python tools/docs.py generate"


def test_configuration_reference_has_every_key_with_a_meaning():
    ref = docs_tool.section(
        (REPO / "docs/configuration.md").read_text(), docs_tool.CONFIG_BEGIN, docs_tool.CONFIG_END
    )
    rows = [r for r in ref.splitlines() if r.startswith("| `")]
    assert len(rows) > 80
    for key in ("corpus.source", "suites.<name>.path_pattern", "neurons.n_bins", "metrics.dtype"):
        assert any(r.startswith(f"| `{key}` |") for r in rows), key
    empty = [r.split("|")[1].strip() for r in rows if r.rstrip().endswith("|  |")]
    assert not empty, f"schema keys without a description: {empty}"


def test_every_relative_link_resolves_to_a_file_and_heading_in_the_repository():
    bad = []
    for page in PAGES:
        for target in links(page):
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.is_relative_to(REPO) or not dest.exists():
                bad.append(f"{page.relative_to(REPO)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                bad.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not bad, "\n".join(bad)
    assert len([t for p in PAGES for t in links(p)]) > 50  # the check ran over real links


def test_link_check_catches_a_broken_link_and_anchor(tmp_path, monkeypatch):
    page = tmp_path / "p.md"
    page.write_text("# Top `x`\n\n[a](p.md#top-x) [b](nope.md) [c](p.md#nope) `[d](ignored.md)`\n")
    assert links(page) == ["p.md#top-x", "nope.md", "p.md#nope"]
    assert anchors(page) == {"top-x"}


def test_docs_and_configs_point_only_inside_the_repository():
    files = PAGES + sorted((REPO / "config").rglob("*.yaml"))
    bad = []
    for f in files:
        text = f.read_text()
        for pattern in (
            r"DESIGN\.md",
            r"FAMILIES\.md",
            r"/work/",
            r"(?<![\w&/])#\d+\b",
            r"\bissues?\b",
        ):
            if re.search(pattern, text, re.I):
                bad.append(f"{f.relative_to(REPO)}: {pattern}")
    assert not bad, bad


def shown_figures() -> list[str]:
    """Names of the figures the README and docs/ show (all from docs/figures/)."""
    out = []
    for page in PAGES:
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", prose(page.read_text())):
            path = (page.parent / target).resolve()
            assert path.parent == docs_tool.FIGURE_DIR, (
                f"{page.name}: {target} not in docs/figures/"
            )
            out.append(path.stem)
    return out


def test_every_figure_shown_is_one_the_default_workflow_produces():
    cfg = default_config()
    produced = {
        Path(f).stem
        for f in targets.final_outputs(cfg, Suites(cfg))
        if f.startswith(f"results/figures/{docs_tool.SUITE}/") and f.endswith(".png")
    }
    shown = shown_figures()
    assert set(shown) == set(docs_tool.FIGURES), (
        "show each of tools/docs.py FIGURES, and only those"
    )
    assert set(docs_tool.FIGURES) <= produced, sorted(set(docs_tool.FIGURES) - produced)
    on_disk = {p.stem for p in docs_tool.FIGURE_DIR.glob("*")}
    assert on_disk == set(docs_tool.FIGURES), "run: python tools/docs.py figures results"


def test_figures_command_copies_the_shown_figures(tmp_path):
    src = tmp_path / "results" / "figures" / docs_tool.SUITE
    src.mkdir(parents=True)
    for i, name in enumerate((*docs_tool.FIGURES, "kl_reference")):
        (src / f"{name}.png").write_bytes(b"\x89PNG fake %d" % i)
    dest = tmp_path / "docs_figures"
    copied = docs_tool.copy_figures(tmp_path / "results", dest)
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.png" for n in docs_tool.FIGURES)
    assert len(copied) == len(docs_tool.FIGURES)
    for name in docs_tool.FIGURES:
        assert (dest / f"{name}.png").read_bytes() == (src / f"{name}.png").read_bytes()
    (src / "phases.png").unlink()
    shutil.rmtree(dest)
    with pytest.raises(SystemExit, match=r"has no phases\.png"):
        docs_tool.copy_figures(tmp_path / "results", dest)
    assert not dest.exists()  # nothing copied when one is missing


def test_readme_stays_a_short_manual():
    """Reference material belongs in docs/, which the README links to."""
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert "(docs/README.md)" in readme


def test_readme_test_command_is_the_line_ci_runs():
    ci = (REPO / ".ci/run").read_text()
    awk = re.search(r"awk '([^']+)' README\.md", ci).group(1)
    res = subprocess.run(
        ["awk", awk, "README.md"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert res.stdout.strip() == TEST_COMMAND


def local_checkpoints(root: Path, suite: dict, corpus: Path, positions: int = 128) -> None:
    """One tiny GPT-NeoX checkpoint (with its tokenizer) copied to every path of the suite."""
    import pandas as pd

    from lmdyn.data.micro import build_model
    from lmdyn.data.tokens import load_tokenizer, save_hf_tokenizer, train_bpe

    texts = pd.read_json(corpus, lines=True).text.tolist()
    save_hf_tokenizer(train_bpe(texts, 300), str(root / "tokenizer"))
    tok = load_tokenizer(str(root / "tokenizer"))
    size = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "intermediate_size": 32}
    one = root / "one"
    build_model("gpt_neox", len(tok), positions, size, seed=0).save_pretrained(one)
    tok.save_pretrained(one)
    for m in suite["models"]:
        for k in suite["seeds"]:
            for s in suite["steps"]:
                path = root / suite["path_pattern"].format(model=m, seed=k, step=s)
                shutil.copytree(one, path)


@pytest.mark.workflow
def test_local_example_config_validates_and_plans(tmp_path, monkeypatch):
    """config/local.yaml as shipped, against tiny checkpoints laid out at its path pattern (and a
    local corpus, so that no npm is needed): the config check passes, and a dry run plans one
    integrity and one checkpoint job per run."""
    example = yaml.safe_load((REPO / "config/local.yaml").read_text())
    ((name, suite),) = example["suites"].items()
    assert suite["kind"] == "local" and {"{seed}", "{step}"} <= set(
        re.findall(r"\{\w+\}", suite["path_pattern"])
    )
    make_corpus(tmp_path / "corpus.jsonl")
    local_checkpoints(tmp_path, suite, tmp_path / "corpus.jsonl")
    corpus = {"corpus": {"source": "local", "path": "corpus.jsonl"}}
    transfer = {"geometry": {"transfer": {"source": "local", "path": "corpus.jsonl"}}}
    # the default prompts' targets are single tokens of GPT-2's tokenizer, not of the tiny one here
    neurons = {"neurons": tiny_families(tmp_path / "corpus.jsonl")["neurons"]}
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({**corpus, **transfer, **neurons}))

    monkeypatch.chdir(tmp_path)  # path_pattern is relative to the working directory
    cfg = {**example, **corpus, **transfer, **neurons}
    check_config(cfg, SCHEMA)
    plan = Suites(cfg).plan(name)
    runs = len(suite["models"]) * len(suite["seeds"])
    assert len(plan) == runs * len(suite["steps"])
    assert all(Path(c.path).is_dir() for c in plan)

    cmd = SNAKEMAKE + ["-n", "--quiet", "rules", "--cores", "2", "--directory", str(tmp_path)]
    cmd += ["--configfile", str(REPO / "config/local.yaml"), str(override)]
    res = subprocess.run(cmd + ["--replace-workflow-config"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = {r: int(n) for r, n in re.findall(r"^(\w+)\s+(\d+)$", res.stdout, re.M)}
    assert jobs["fetch_run"] == runs and jobs["checkpoint_tasks"] == runs, jobs
    assert "train_micro" not in jobs


def test_local_example_config_refuses_a_context_longer_than_its_checkpoints(tmp_path, monkeypatch):
    """The config check reads the checkpoints' position embeddings before any job."""
    example = yaml.safe_load((REPO / "config/local.yaml").read_text())
    ((_, suite),) = example["suites"].items()
    make_corpus(tmp_path / "corpus.jsonl")
    first = {**suite, **{k: suite[k][:1] for k in ("models", "seeds", "steps")}}
    local_checkpoints(tmp_path, first, tmp_path / "corpus.jsonl", positions=64)
    monkeypatch.chdir(tmp_path)
    cfg = {**example, "corpus": {"source": "local", "path": "corpus.jsonl"}}
    with pytest.raises(UserError, match=r"tokens\.context_length 128 is longer .* at most 64$"):
        check_config(cfg, SCHEMA)
