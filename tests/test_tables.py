"""Table specs: validation before writing, reading back, suite concatenation, the registry against
the workflow's rules, and the outputs section of the docs."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmdyn.core import outputs, tables
from lmdyn.core.outputs import check_results
from lmdyn.core.tables import (
    SEED_MEAN,
    SEEDS,
    Column,
    Table,
    TableError,
    concat,
    read,
    validate,
    write,
)
from lmdyn.data.tables import DOCS
from lmdyn.divergence.phases import phase_table
from lmdyn.divergence.tables import PHASES

REPO = Path(__file__).resolve().parents[1]

SPEC = Table(
    "test.runs",
    "runs/{suite}/{model}/seed{seed}.parquet",
    (
        tables.SUITE,
        tables.MODEL,
        SEED_MEAN,
        SEEDS,
        tables.STEP,
        Column("kl", "float", "nats", "a mean KL"),
        Column("note", "str", "", "a note", nullable=True),
        Column("ok", "bool", "", "a flag"),
    ),
    "A table of the tests.",
    csv=True,
    float_format="%.3g",
)


def frame(**changes):
    t = pd.DataFrame(
        {
            "suite": "s",
            "model": ["a", "a", "b"],
            "seed": pd.array([0, pd.NA, 1], dtype="Int64"),
            "seeds": ["one", "mean", "one"],
            "step": [0, 8, 8],
            "kl": [0.123456, 1.5, 2.25],
            "note": [None, "x", None],
            "ok": [True, False, True],
        }
    )
    return t.assign(**changes)


def test_a_frame_that_matches_is_written_in_every_format(tmp_path):
    d = tmp_path / "results/runs/s/a"
    d.mkdir(parents=True)
    write(SPEC, frame(), d / "seed0.parquet", d / "seed0.csv")
    back = pd.read_parquet(d / "seed0.parquet")
    pd.testing.assert_frame_equal(back, frame(), check_dtype=False)
    assert str(back.seed.dtype) == "Int64"
    assert (d / "seed0.csv").read_text().splitlines()[1] == "s,a,0,one,0,0.123,,True"
    again = read(SPEC, d / "seed0.csv")  # the CSV copy read back with the spec's dtypes
    assert str(again.seed.dtype) == "Int64" and again.seed.isna().tolist() == [False, True, False]
    validate(SPEC, again)


@pytest.mark.parametrize(
    "bad, message",
    [
        (frame().rename(columns={"kl": "kl_seeds"}), r"missing columns \['kl'\]"),
        (frame().assign(extra=1), r"unexpected columns \['extra'\]"),
        (frame()[["model", "suite", *SPEC.names[2:]]], "columns in the order"),
        (frame(seed=["0", "mean", "1"]), r"column 'seed': dtype .* spec says int"),
        (frame(step=[0.0, 8.0, 8.0]), r"column 'step': dtype float64 .* spec says int"),
        (frame(ok=[1, 0, 1]), r"column 'ok': .* spec says bool"),
        (frame(kl=[0.1, np.nan, 0.2]), r"column 'kl': 1 missing values, spec says not nullable"),
    ],
)
def test_a_wrong_column_or_dtype_names_the_table_and_the_column(tmp_path, bad, message):
    with pytest.raises(TableError, match=r"^table test\.runs \(runs/\{suite\}/.*\): .*" + message):
        write(SPEC, bad, tmp_path / "results/runs/s/a/seed0.parquet")
    assert not (tmp_path / "results").exists()  # nothing written


def test_missing_values_where_declared_and_tables_without_rows():
    validate(SPEC, frame(note=[None, None, None]))  # all missing: no values to type
    validate(SPEC, frame().iloc[:0])
    validate(SPEC, SPEC.empty())
    assert [str(t) for t in SPEC.empty().dtypes] == [
        "str",
        "str",
        "Int64",
        "str",
        "int64",
        "float64",
        "str",
        "bool",
    ]
    with pytest.raises(TableError, match="column 'seeds': 1 missing"):
        validate(SPEC, frame(seeds=["one", None, "one"]))


def test_a_path_that_is_not_the_tables_is_refused(tmp_path):
    with pytest.raises(TableError, match="is not one of its files"):
        write(SPEC, frame(), tmp_path / "results/runs/s/a/seed0.tsv")
    with pytest.raises(TableError, match="is not one of its files"):
        write(SPEC, frame(), tmp_path / "results/runs/s/seedx.parquet")


def test_extra_columns_where_a_table_allows_them():
    docs = pd.DataFrame(
        {"doc_id": [0, 1], "title": "t", "text": "x", "year": [1790, 1791], "split": "eval"}
    )
    validate(DOCS, docs)
    with pytest.raises(TableError, match="columns in the order"):
        validate(DOCS, docs[["doc_id", "text", "title", "year", "split"]])


def test_concat_keeps_the_steps_given_per_model_and_fills_constants():
    spec = SPEC.derive("test.suite", "x/{suite}.parquet", "suite table")
    runs = frame().drop(columns="suite")
    parts = [runs.iloc[[0, 1]], runs.iloc[[2]]]  # model a's run has steps 0 and 8, b's run 8
    t = concat(spec, parts, {"a": [8], "b": [0, 8]}, suite="s")
    assert list(t.columns) == spec.names and t.suite.tolist() == ["s", "s"]
    assert list(zip(t.model, t.step)) == [("a", 8), ("b", 8)]
    empty = concat(spec, parts, {"a": [], "b": [4]}, suite="s")  # nothing kept: typed, no rows
    assert empty.empty and list(empty.columns) == spec.names
    assert empty.dtypes.equals(spec.empty().dtypes)
    assert concat(spec, []).empty
    with pytest.raises(TableError, match="missing columns"):
        concat(spec, parts)  # no suite to fill


def test_concat_keeps_only_steps_every_run_of_a_model_has():
    """A task that failed at one checkpoint of one run: the step goes for every seed."""
    seed = pd.array([0, 0], dtype="Int64")
    run = frame().iloc[[0, 2]].assign(model="a", seed=seed, seeds="one")  # steps 0 and 8
    other = run.assign(seed=pd.array([5, 5], dtype="Int64")).iloc[[1]]  # this run lacks step 0
    t = concat(SPEC, [run, other], {"a": [0, 8]})
    assert list(zip(t.model, t.step, t.seed)) == [("a", 8, 0), ("a", 8, 5)]


def test_concat_reads_parquet_files(tmp_path):
    paths = []
    for i, part in enumerate(frame().groupby("model", sort=False)):
        paths.append(tmp_path / f"{i}.parquet")
        part[1].to_parquet(paths[-1], index=False)
    t = concat(SPEC, paths)
    pd.testing.assert_frame_equal(t, frame(), check_dtype=False)


def test_the_phase_table_has_integer_seeds_and_a_mean_marker():
    steps = [0, 1, 2, 4, 8]
    summary = pd.DataFrame(
        [
            {
                "suite": "s",
                "model": "m",
                "seed": seed,
                "step": st,
                "kl_uniform": 0.01 * st,
                "kl_unigram": 1.0 / (st + 1),
                "nll": 8.0 - st * (0.5 + 0.1 * seed),
                "kl_seeds": 0.1,
            }
            for seed in (0, 1)
            for st in steps
        ]
    )
    t = phase_table(summary, 6.0, n_boot=10).assign(unigram_cross_entropy=6.0)
    validate(PHASES, t)
    assert t.seeds.tolist() == ["one", "one", "mean"] and t.seed.tolist()[:2] == [0, 1]
    assert t.seed.isna().tolist() == [False, False, True]


def test_registry_names_and_paths_are_unique():
    specs = outputs.all_tables()
    assert len({t.name for t in specs}) == len(specs) == len({t.path for t in specs})
    files = [p for t in specs for p in t.paths()]
    for t in specs:  # each file pattern belongs to one table only
        for p in t.paths():
            example = re.sub(r"\{(\w+)\}", lambda m: "7" if m[1] in ("seed", "step") else "x", p)
            assert [s.name for s in specs if s.matches(example)] == [t.name], example
    assert len(files) == len(set(files))
    assert outputs.get("study.phases") == PHASES
    assert outputs.spec_of("results/study/micro/phases.csv") == PHASES


# Where the rules' input, output and target paths are built besides rules/*.smk.
RULE_HELPERS = (
    "scripts/lmdyn/core/targets.py",
    "scripts/lmdyn/divergence/jobs.py",
    # the table names of the two families whose suite rules loop over them
    "scripts/lmdyn/geometry/__init__.py",
    "scripts/lmdyn/neurons/__init__.py",
)


def _rule_patterns() -> list[tuple[str, re.Pattern]]:
    """Every results/ path written in rules/*.smk and in the library's helpers of the rules
    (outputs, inputs, targets) as a regex; a path without a table suffix is a directory (its files
    are under it). A placeholder of a loop over names (``{name}``, ``{n}``, ``{family}``,
    ``{suffix}``) stands for any word the rules spell as a string; any other placeholder is a
    wildcard."""
    files = sorted((REPO / "rules").glob("*.smk")) + [REPO / f for f in RULE_HELPERS]
    texts = [f.read_text() for f in files]
    words = sorted({w for t in texts for w in re.findall(r'"(\w*)"', t)}, key=len, reverse=True)
    name = "(?:" + "|".join(re.escape(w) for w in words) + ")"
    out = []
    for text in texts:
        for s in re.findall(r'f?"(results/[^"]*)"', text):
            s = s.replace("{{", "{").replace("}}", "}")
            parts = re.split(r"\{([^}]*)\}", s)
            if not all(p.isidentifier() for p in parts[1::2]):
                continue  # a spec's own path (``{t.path}``): declared by construction
            rx = "".join(
                re.escape(p)
                if i % 2 == 0
                else (name if p in ("name", "n", "family", "suffix") else "[^/]+")
                for i, p in enumerate(parts)
            )
            if Path(s).suffix in tables.FORMATS:
                out.append((s, re.compile(rx + "$")))
            else:
                out.append((s, re.compile(rx.rstrip("/") + "/.+$")))
    return out


def test_every_spec_is_a_file_the_workflow_writes_and_every_table_file_has_a_spec():
    from lmdyn.core.tasks import FAMILY_TASKS, run_table_paths

    rules = _rule_patterns()
    specs = [p for t in outputs.all_tables() for p in t.paths()]
    # the run tables are the checkpoint job's outputs by construction (built from their specs)
    run = set(run_table_paths(FAMILY_TASKS).values())
    unwritten = [
        p
        for p in specs
        if f"results/{p}" not in run and not any(rx.match("results/" + p) for _, rx in rules)
    ]
    assert unwritten == [], f"specs of files no rule writes: {unwritten}"
    files = [(s, rx) for s, rx in rules if Path(s).suffix in tables.FORMATS]
    undeclared = [s for s, rx in files if not any(rx.match("results/" + p) for p in specs)]
    assert undeclared == [], f"table files in rules/*.smk without a spec: {undeclared}"


def test_check_results_reports_undeclared_and_mismatched_files(tmp_path):
    root = tmp_path / "results"
    (root / "runs/s").mkdir(parents=True)
    runs = pd.DataFrame(
        {"suite": "s", "model": "m", "seed": [0], "step": [1], "status": "ok", "error": ""}
    )
    runs.to_csv(root / "runs/s.csv", index=False)
    assert check_results(root) == []
    runs.drop(columns="error").to_csv(root / "runs/s.csv", index=False)
    runs.to_csv(root / "runs/s/notes.csv", index=False)
    assert check_results(root) == [
        "runs/s.csv: missing columns ['error']",
        "runs/s/notes.csv: no table declares it",
    ]


def test_markdown_documents_every_column_once_per_distinct_table():
    md = outputs.markdown()
    for t in outputs.all_tables():
        assert f"**{t.name}** (" in md
        for c in t.columns:
            if c not in tables.KEYS:
                assert f"| `{c.name}` |" in md, (t.name, c.name)


def test_integrity_tables_read_back_with_integer_steps_and_empty_notes(tmp_path):
    """The suite's integrity table is made from the runs' CSVs: a duplicate's step stays an
    integer beside empty fields, and an empty note stays an empty string."""
    run = pd.DataFrame(
        {
            "suite": "s",
            "model": "m",
            "seed": 0,
            "step": [0, 4, 8],
            "repo": ["org/m"] * 3,
            "revision": ["step0", "step4", "step8"],
            "status": ["ok", "duplicate", "missing"],
            "sha256": ["a", "b", None],
            "duplicate_of": pd.array([pd.NA, 8, pd.NA], dtype="Int64"),
            "note": "",
        }
    )
    path = tmp_path / "results/integrity/s/m/seed0.csv"
    path.parent.mkdir(parents=True)
    write(tables.INTEGRITY_RUN, run, path)
    back = read(tables.INTEGRITY_RUN, path)
    validate(tables.INTEGRITY, back)
    assert back.duplicate_of.tolist()[1] == 8 and back.note.tolist() == ["", "", ""]
    write(tables.INTEGRITY, back, tmp_path / "results/integrity/s.csv")
    assert (tmp_path / "results/integrity/s.csv").read_text() == path.read_text()
