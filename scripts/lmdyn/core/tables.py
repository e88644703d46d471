"""Every output table declared once: its path under ``results/``, its columns (type, unit, meaning).

Each family declares its tables in ``lmdyn.<family>.tables`` (the data stages in
``lmdyn.data.tables``; the checkpoint integrity and run status tables are declared here);
:func:`lmdyn.core.outputs.all_tables` collects them. Rule scripts write through :func:`write`, which checks a frame
against its spec first, and build suite tables from per-run ones with :func:`concat` (or write them
run by run with :func:`lmdyn.core.gather.gather`).
``python tools/docs.py generate`` writes the table of outputs in docs/outputs.md.

Key columns mean the same everywhere: ``suite``, ``model``, ``seed`` (an integer; NA on rows that
aggregate over seeds, which a ``seeds`` column marks) and ``step`` (an integer).

Imported by rule scripts only (pandas is imported where a frame is handled, not at import).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

DTYPES = ("int", "float", "str", "bool")
FORMATS = (".parquet", ".csv", ".tsv")
# Wildcards of the path patterns, as in rules/common.smk's wildcard constraints.
WILDCARDS = {"suite": r"[^/]+", "model": r"[^/]+", "seed": r"\d+", "step": r"\d+"}


class TableError(ValueError):
    """A frame or path that does not match its table's spec: a bug in the writer, not bad input."""


@dataclass(frozen=True)
class Column:
    """One column: ``dtype`` is a family (int, float, str, bool); ``nullable`` allows missing values."""

    name: str
    dtype: str
    unit: str = ""
    meaning: str = ""
    nullable: bool = False

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"column {self.name}: dtype {self.dtype!r} is not one of {DTYPES}")

    def but(self, **changes) -> Column:
        """This column with some fields changed (a key with a table-specific meaning)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class Table:
    """One table: ``path`` is its pattern under results/ (the suffix names the format);
    ``csv`` adds a CSV copy beside a parquet file (same stem), written with ``float_format``;
    ``extra`` (what they hold) allows columns besides the declared ones, e.g. corpus metadata."""

    name: str
    path: str
    columns: tuple[Column, ...]
    meaning: str
    csv: bool = False
    float_format: str | None = None
    extra: str = ""

    def __post_init__(self):
        if Path(self.path).suffix not in FORMATS:
            raise ValueError(f"table {self.name}: {self.path} is not one of {FORMATS}")
        names = [c.name for c in self.columns]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"table {self.name}: duplicate columns {dup}")
        if self.csv and Path(self.path).suffix != ".parquet":
            raise ValueError(f"table {self.name}: a CSV copy needs a parquet path")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def paths(self) -> list[str]:
        """Every file pattern of the table (the parquet file and its CSV copy)."""
        return [self.path] + ([str(Path(self.path).with_suffix(".csv"))] if self.csv else [])

    def derive(
        self,
        name: str,
        path: str,
        meaning: str,
        drop: Iterable[str] = (),
        swap: Iterable[Column] = (),
        **changes,
    ) -> Table:
        """A table with this one's columns less ``drop`` (e.g. a per-run table without ``suite``),
        ``swap`` replacing the columns of the same names (another meaning); no CSV copy unless
        ``changes`` ask for one."""
        drop, swap = set(drop), {c.name: c for c in swap}
        unknown = (drop | set(swap)) - set(self.names)
        if unknown:
            raise ValueError(f"table {self.name} has no columns {sorted(unknown)}")
        columns = tuple(swap.get(c.name, c) for c in self.columns if c.name not in drop)
        fields = {"csv": False, "float_format": None, **changes}
        return replace(self, name=name, path=path, meaning=meaning, columns=columns, **fields)

    def pattern(self, path: str | None = None) -> re.Pattern:
        """Regex of a path pattern of the table (default: its main one), matching the end of a path."""
        parts = re.split(r"\{(\w+)\}", self.path if path is None else path)
        rx = "".join(
            re.escape(p) if i % 2 == 0 else f"(?:{WILDCARDS[p]})" for i, p in enumerate(parts)
        )
        return re.compile(f"(?:^|/){rx}$")

    def matches(self, path) -> bool:
        """Whether ``path`` (a file under results/) is one of the table's files."""
        p = Path(path).as_posix()
        return any(self.pattern(x).search(p) for x in self.paths())

    def empty(self):
        """A frame with no rows and the table's columns, typed (empty tables keep their schema)."""
        import pandas as pd

        return pd.DataFrame(
            {c.name: pd.Series(dtype=_pandas_dtype(c)) for c in self.columns},
            index=pd.RangeIndex(0),
        )


def _pandas_dtype(c: Column) -> str:
    return {
        "int": "Int64" if c.nullable else "int64",
        "float": "float64",
        "str": "str",
        "bool": "boolean" if c.nullable else "bool",
    }[c.dtype]


def _kind(s) -> str | None:
    """The dtype family of a column's values, None when it holds none (all missing)."""
    import pandas as pd

    t = pd.api.types
    if s.dtype == object:
        inferred = t.infer_dtype(s, skipna=True)
        return {
            "string": "str",
            "boolean": "bool",
            "integer": "int",
            "floating": "float",
            "empty": None,
        }.get(inferred, f"object ({inferred})")
    if t.is_bool_dtype(s.dtype):
        return "bool"
    if t.is_integer_dtype(s.dtype):
        return "int"
    if t.is_float_dtype(s.dtype):
        return "float"
    if t.is_string_dtype(s.dtype):
        return "str"
    return str(s.dtype)


def problems(spec: Table, df) -> list[str]:
    """What keeps ``df`` from matching ``spec``: column names and order, dtype families, missing values."""
    out = []
    got, want = [str(c) for c in df.columns], spec.names
    if spec.extra:  # declared columns in order, others allowed among them
        got = [c for c in got if c in want]
    if got != want:
        missing = [c for c in want if c not in got]
        unexpected = [c for c in got if c not in want]
        if missing:
            out.append(f"missing columns {missing}")
        if unexpected:
            out.append(f"unexpected columns {unexpected}")
        if not missing and not unexpected:
            out.append(f"columns in the order {got}, spec says {want}")
    for c in spec.columns:
        if c.name not in df.columns:
            continue
        s = df[c.name]
        n_missing = int(s.isna().sum())
        if n_missing and not c.nullable:
            out.append(f"column '{c.name}': {n_missing} missing values, spec says not nullable")
        kind = _kind(s)
        if kind is not None and kind != c.dtype:
            example = s.dropna().iloc[:3].tolist()
            out.append(
                f"column '{c.name}': dtype {s.dtype} ({kind}, e.g. {example}), spec says {c.dtype}"
            )
    return out


def validate(spec: Table, df) -> None:
    """Raise TableError naming the table and every column that does not match its spec."""
    found = problems(spec, df)
    if found:
        raise TableError(f"table {spec.name} ({spec.path}): " + "; ".join(found))


def write(spec: Table, df, *paths) -> None:
    """Validate ``df`` against ``spec`` and write it to each of ``paths`` (files of the table:
    parquet, CSV or TSV by suffix; no index)."""
    validate(spec, df)
    for path in paths:
        if not spec.matches(path):
            raise TableError(
                f"table {spec.name}: {path} is not one of its files ({', '.join(spec.paths())})"
            )
        suffix = Path(path).suffix
        if suffix == ".parquet":
            df.to_parquet(path, index=False)
        else:
            sep = "\t" if suffix == ".tsv" else ","
            df.to_csv(path, sep=sep, index=False, float_format=spec.float_format)


def read(spec: Table, path):
    """A table file read back with the spec's dtypes. In CSV and TSV files only empty fields of
    nullable columns are missing (a note or error that is "" stays "")."""
    import pandas as pd

    if Path(path).suffix == ".parquet":
        return pd.read_parquet(path)
    declared = {c.name: c for c in spec.columns}
    return pd.read_csv(
        path,
        sep="\t" if Path(path).suffix == ".tsv" else ",",
        lineterminator="\n",  # a token that is a lone "\r" is written unquoted: not a line end
        dtype={n: _pandas_dtype(c) for n, c in declared.items()},
        keep_default_na=False,
        na_values={n: [""] for n, c in declared.items() if c.nullable},
    )


def concat(spec: Table, parts, steps: Mapping | None = None, **constants):
    """One table of ``spec`` from per-run tables (frames or parquet paths); with ``steps``, keeping
    per model only the steps in ``steps`` ({model: steps}, e.g. those analysed for every seed) that
    every run of the model has (a task can fail at one checkpoint of one run: every seed then shows the same
    steps). ``constants`` fill key columns the parts lack (e.g. ``suite``), at the spec's
    position. Validated; a table without rows has the spec's columns."""
    import pandas as pd

    frames = [pd.read_parquet(p) if isinstance(p, (str, Path)) else p for p in parts]
    frames = [f for f in frames if len(f)]
    if not frames:
        return spec.empty()
    t = pd.concat(frames, ignore_index=True)
    if steps is not None:
        keep = steps_of_every_run(frames, steps)
        t = t[[(str(m), int(x)) in keep for m, x in zip(t.model, t.step)]].reset_index(drop=True)
        if t.empty:
            return spec.empty()
    for i, name in enumerate(spec.names):
        if name in constants and name not in t.columns:
            t.insert(i, name, constants[name])
    validate(spec, t)
    return t


def steps_of_every_run(frames, steps: Mapping) -> set:
    """(model, step) in ``steps`` and in every run's frame of that model (``frames`` are read
    once, in turn: a generator keeps one in memory)."""
    have: dict[str, list[set]] = {}
    for f in frames:
        for m, g in f.groupby("model", sort=False):
            have.setdefault(str(m), []).append({int(x) for x in g.step})
    keep = set()
    for m, sets in have.items():
        common = set.intersection(*sets) & {int(x) for x in steps.get(m, ())}
        keep |= {(m, x) for x in common}
    return keep


# ---- key columns and the core's own tables ---------------------------------------------------------

SUITE = Column("suite", "str", "", "suite name (a key of the config's `suites`)")
MODEL = Column("model", "str", "", "model size or name (the `{model}` wildcard)")
SEED = Column("seed", "int", "", "seed of the run (model x seed)")
STEP = Column("step", "int", "steps", "training step of the checkpoint")
DOC_ID = Column("doc_id", "int", "", "evaluation document (`doc_id` of the corpus)")
POSITION = Column("position", "int", "tokens", "index of the token in its document")
KEYS = (SUITE, MODEL, SEED, STEP, DOC_ID, POSITION)
KEY_NAMES = {c.name for c in KEYS}
RUN_KEYS = (SUITE, MODEL, SEED, STEP)
# Rows aggregated over seeds: seed is NA and this column says so.
SEED_MEAN = SEED.but(nullable=True, meaning="seed of the run; NA on rows over all seeds")
SEEDS = Column(
    "seeds",
    "str",
    "",
    "`one` (the row is the run `seed`'s) or `mean` (aggregated over the model's seeds or seed pairs)",
)

TITLE = "Checkpoints and runs (`lmdyn.core`)"

INTEGRITY_RUN = Table(
    "integrity.run",
    "integrity/{suite}/{model}/seed{seed}.csv",
    (
        *RUN_KEYS,
        Column("repo", "str", "", "hub repository (empty for local and micro checkpoints)", True),
        Column("revision", "str", "", "hub branch of the checkpoint (never `main`)", True),
        Column("status", "str", "", "`ok`, `missing`, `corrupt` or `duplicate`"),
        Column(
            "sha256", "str", "", "hash of the weight files (empty when missing or corrupt)", True
        ),
        Column(
            "duplicate_of",
            "int",
            "steps",
            "earliest other step of the run with byte-identical weights",
            True,
        ),
        Column("note", "str", "", "why a `corrupt` checkpoint cannot be read (else empty)"),
    ),
    "One row per planned checkpoint of a run; written by `fetch_run` (or `train_micro`), what the "
    "run's jobs wait for.",
)
INTEGRITY = INTEGRITY_RUN.derive(
    "integrity",
    "integrity/{suite}.csv",
    "Every run's integrity table in one; a step not `ok` for every seed of a model is left out.",
)
RUNS_RUN = Table(
    "runs.run",
    "runs/{suite}/{model}/seed{seed}.csv",
    (
        *RUN_KEYS,
        Column(
            "status",
            "str",
            "",
            "`ok`, `failed`, or `corrupt` (downloaded bytes that do not match their sha256) in "
            "the run's checkpoint job",
        ),
        Column("error", "str", "", "the one-line load error of a failed checkpoint (else empty)"),
    ),
    "Status of every sound checkpoint of a run in its checkpoint job (`checkpoint_tasks`).",
)
RUNS = RUNS_RUN.derive(
    "runs",
    "runs/{suite}.csv",
    "Every run's status table in one; a step failed for any seed of a model is left out.",
)
TABLES = [INTEGRITY, INTEGRITY_RUN, RUNS, RUNS_RUN]
