"""Suite tables written run by run (lmdyn.core.gather) against the whole-table path they replace
(concat, then write): the same CSV bytes, the same parquet values, dtypes and columns."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lmdyn.core import tables
from lmdyn.core.gather import gather
from lmdyn.core.tables import Column, Table, TableError, concat, write

SUITE = Table(
    "test.gather",
    "g/{suite}/t.parquet",
    (
        tables.SUITE,
        tables.MODEL,
        tables.SEED,
        tables.STEP,
        Column("x", "float", "", "a value"),
        Column("y", "float", "", "a value that may be missing", nullable=True),
        Column("n", "int", "", "a count"),
        Column("token", "str", "", "a token"),
        Column("ok", "bool", "", "a flag"),
    ),
    "A suite table of the tests.",
    csv=True,
    float_format="%.6g",
)
STEPS = [0, 1, 2, 4, 8]


def run_table(model, seed, steps=STEPS, rows=3, x_dtype="float64", y_missing=False):
    """One run's table: ``rows`` rows per step, values with more digits than the float format."""
    rng = np.random.default_rng([seed, len(model)])
    n = rows * len(steps)
    y = rng.normal(size=n)
    y[::4] = np.nan
    return pd.DataFrame(
        {
            "model": model,
            "seed": seed,
            "step": np.repeat(steps, rows),
            "x": rng.normal(size=n).astype(x_dtype),
            "y": [None] * n if y_missing else y,
            "n": rng.integers(0, 100, n),
            "token": [f' t{i},"q"' for i in range(n)],  # quoted in the CSV
            "ok": rng.random(n) < 0.5,
        }
    )


def suite(tmp_path, runs):
    """Each run's table as its checkpoint job stores it (parquet), in run order."""
    paths = []
    for i, t in enumerate(runs):
        paths.append(tmp_path / "runs" / f"{i}.parquet")
        paths[-1].parent.mkdir(parents=True, exist_ok=True)
        t.to_parquet(paths[-1], index=False)
    return paths


def both(tmp_path, parts, steps=None, keep=None):
    """(old, new) folders: concat then write (keep applied to the frame, as neurons_suite did),
    and gather."""
    out = {}
    for how in ("old", "new"):
        d = tmp_path / how / "g/s"
        d.mkdir(parents=True)
        files = d / "t.parquet", d / "t.csv"
        if how == "old":
            t = concat(SUITE, parts, steps, suite="s")
            if keep is not None and len(t):
                t = t[[int(x) in keep.get(m, ()) for m, x in zip(t.model, t.step)]]
                t = t.reset_index(drop=True) if len(t) else SUITE.empty()
            write(SUITE, t, *files)
        else:
            gather(SUITE, parts, files, steps, keep, suite="s")
        out[how] = files
    return out["old"], out["new"]


def assert_same(old, new, schema=True):
    assert new[1].read_bytes() == old[1].read_bytes()
    a, b = pd.read_parquet(old[0]), pd.read_parquet(new[0])
    pd.testing.assert_frame_equal(b, a, check_exact=True)
    assert list(b.columns) == SUITE.names
    if schema:  # the arrow types and pandas metadata too (row groups aside)
        assert pq.read_schema(new[0]).equals(pq.read_schema(old[0]), check_metadata=True)
    assert not list(new[0].parent.glob(".*"))  # no temporary file left


def test_runs_filtered_to_the_steps_of_every_run(tmp_path):
    runs = [run_table(m, k) for m in ("s", "xs") for k in range(3)]
    runs[4] = run_table("xs", 1, steps=[0, 1, 4, 8])  # a run without step 2: xs loses it
    runs.insert(2, run_table("s", 9, steps=[]))  # a run without rows
    parts = suite(tmp_path, runs)
    old, new = both(tmp_path, parts, {"s": [0, 1, 2, 4], "xs": STEPS})
    assert_same(old, new)
    t = pd.read_parquet(new[0])
    assert sorted(set(t.step[t.model == "s"])) == [0, 1, 2, 4]
    assert sorted(set(t.step[t.model == "xs"])) == [0, 1, 4, 8]
    assert len(t) == 3 * 3 * (4 + 4)


def test_runs_without_a_filter_and_with_the_steps_of_another_table(tmp_path):
    parts = suite(tmp_path, [run_table(m, k) for m in ("s", "xs") for k in range(2)])
    old, new = both(tmp_path / "all", parts)
    assert_same(old, new)
    keep = {"s": {1, 8}, "xs": {0}}
    old, new = both(tmp_path / "keep", parts, keep=keep)
    assert_same(old, new)
    got = gather(SUITE, parts, (tmp_path / "keep/new/g/s/t.parquet",), keep=keep, suite="s")
    assert got.rows == 3 * (2 * 2 + 2) and got.steps == keep
    frames = [pd.read_parquet(p) for p in parts]  # frames as well as files
    old, new = both(tmp_path / "frames", frames, {"s": STEPS, "xs": [2]})
    assert_same(old, new)
    assert "suite" not in frames[0]  # the caller's frames left as they were


@pytest.mark.parametrize("steps", [None, {"s": [], "xs": [3]}], ids=["no rows", "none kept"])
def test_an_empty_suite_table_is_the_specs(tmp_path, steps):
    runs = [run_table("s", 0, steps=[])] if steps is None else [run_table("s", 0)]
    old, new = both(tmp_path, suite(tmp_path, runs), steps)
    assert_same(old, new)
    assert new[0].read_bytes() == old[0].read_bytes()  # no row group: the same file
    assert pd.read_parquet(new[0]).dtypes.equals(SUITE.empty().dtypes)
    old, new = both(tmp_path / "none", [], steps)  # no run at all
    assert_same(old, new)


def test_runs_of_other_dtypes_are_cast_as_concat_casts_them(tmp_path):
    """float32 in one run, float64 in another; a nullable column with no value in one run
    (stored as a column of nulls) makes concat's column an object one, written unformatted."""
    runs = [run_table("s", 0, x_dtype="float32"), run_table("s", 1), run_table("xs", 0)]
    old, new = both(tmp_path / "widths", suite(tmp_path / "widths", runs))
    assert_same(old, new)
    for first in (True, False):
        runs = [run_table("s", 0, y_missing=first), run_table("s", 1, y_missing=not first)]
        d = tmp_path / f"null{first}"
        old, new = both(d, suite(d, runs), {"s": STEPS})
        assert_same(old, new, schema=not first)  # a first run of nulls: the metadata differs


def test_a_failure_leaves_no_file(tmp_path):
    bad = run_table("xs", 0).assign(n=1.5)  # floats in an int column
    parts = suite(tmp_path, [run_table("s", 0), bad])
    d = tmp_path / "g/s"
    d.mkdir(parents=True)
    with pytest.raises(TableError, match="column 'n'"):
        gather(SUITE, parts, (d / "t.parquet", d / "t.csv"), suite="s")
    assert not list(d.iterdir())
    with pytest.raises(TableError, match="not one of its files"):
        gather(SUITE, parts, (d / "other.parquet",), suite="s")
