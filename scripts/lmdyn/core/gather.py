"""Suite tables written run by run, so a suite job holds one run's table at a time (the full grid's
neuron tables are about 241 million rows).

:func:`gather` reads each run's table in turn, keeps the rows :func:`lmdyn.core.tables.concat`
keeps, checks them against the spec and appends them to the table's files. The files equal what
:func:`lmdyn.core.tables.write` makes of ``concat``'s table: the same CSV bytes, the same parquet
values, dtypes and column order (the parquet file has a row group per run, so its bytes differ).
Each file is written under a temporary name beside it and renamed once complete: a failed job
leaves no partial table.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import NamedTuple

from lmdyn.core.tables import Table, TableError, steps_of_every_run, validate

ARROW_TYPES = {"int": "int64", "float": "float64", "str": "large_string", "bool": "bool_"}


class Written(NamedTuple):
    """What :func:`gather` wrote: its rows and, per model, the steps they have."""

    rows: int
    steps: dict[str, set[int]]


def gather(
    spec: Table,
    parts: Iterable,
    paths: Iterable,
    steps: Mapping | None = None,
    keep: Mapping | None = None,
    **constants,
) -> Written:
    """Write what ``write(spec, concat(spec, parts, steps, **constants), *paths)`` writes, one part
    at a time. ``keep`` ({model: steps}) then drops the rows of other steps (after the spec check,
    as where a caller filtered concat's table). ``parts``: parquet paths or frames, a run's each."""
    parts = list(parts)
    dtypes, parts = _survey(parts)
    kept = None if steps is None else _common_steps(parts, steps)
    out = _Files(spec, paths)
    written: dict[str, set[int]] = {}
    try:
        for part in parts:
            t = _read(part)
            cast = {c: d for c, d in dtypes.items() if c in t and t[c].dtype != d}
            t = t.astype(cast) if cast else t
            t = t if kept is None else _only(t, kept)
            if t.empty:
                continue
            for i, name in enumerate(spec.names):
                if name in constants and name not in t.columns:
                    t.insert(i, name, constants[name])
            validate(spec, t)
            t = t if keep is None else _only(t, keep)
            if len(t):
                out.append(t)
                for m, s in t.groupby("model", sort=False).step.unique().items():
                    written.setdefault(str(m), set()).update(int(x) for x in s)
        if not out.rows:
            out.append(spec.empty())  # the spec's columns and dtypes, as write(spec.empty())
        out.close()
    except BaseException:
        out.discard()
        raise
    return Written(out.rows, written)


def _read(part, columns=None):
    import pandas as pd

    if isinstance(part, (str, Path)):
        return pd.read_parquet(part, columns=columns)
    return part.copy(deep=False) if columns is None else part[columns]  # the caller's stays as is


def _survey(parts: list):
    """(the dtypes of the parts concatenated, the parts that have rows), from the parquet files'
    schemas only: a run whose dtype differs (float32 here, float64 there) is cast as concat would."""
    import pandas as pd
    import pyarrow.parquet as pq

    empty, full = [], []
    for p in parts:
        if isinstance(p, (str, Path)):
            if pq.read_metadata(p).num_rows:
                empty.append(pq.read_schema(p).empty_table().to_pandas())
                full.append(p)
        elif len(p):
            empty.append(p.iloc[:0])
            full.append(p)
    return (dict(pd.concat(empty, ignore_index=True).dtypes) if empty else {}), full


def _common_steps(parts: list, steps: Mapping) -> dict[str, set[int]]:
    """concat's filter ({model: steps} in ``steps`` and in every run of the model), from the parts'
    model and step columns, one part at a time."""
    keep: dict[str, set[int]] = {}
    for m, x in steps_of_every_run((_read(p, ["model", "step"]) for p in parts), steps):
        keep.setdefault(m, set()).add(x)
    return keep


def _only(t, keep: Mapping):
    """The rows of ``t`` whose (model, step) is in ``keep`` ({model: steps})."""
    import numpy as np

    mask = np.zeros(len(t), dtype=bool)
    step = t.step.to_numpy()
    for m, idx in t.groupby("model", sort=False).indices.items():
        mask[idx] = np.isin(step[idx], [int(x) for x in keep.get(str(m), ())])
    return t if mask.all() else t[mask].reset_index(drop=True)


class _Files:
    """A table's files, appended to chunk by chunk under temporary names in their folders."""

    def __init__(self, spec: Table, paths: Iterable):
        self.spec, self.paths = spec, [Path(p) for p in paths]
        for path in self.paths:
            if not spec.matches(path):
                raise TableError(
                    f"table {spec.name}: {path} is not one of its files ({', '.join(spec.paths())})"
                )
        self.tmp = [p.with_name(f".{p.name}.{os.getpid()}.part") for p in self.paths]
        self.handles: list = []
        self.rows = 0

    def append(self, t) -> None:
        import pyarrow as pa

        if not self.handles:
            self._open(t)
        for path, h in zip(self.paths, self.handles):
            if path.suffix == ".parquet":
                h.write_table(pa.Table.from_pandas(t, schema=self.schema, preserve_index=False))
            else:
                sep = "\t" if path.suffix == ".tsv" else ","
                # the formatting of write: one header, the spec's float format
                t.to_csv(
                    h,
                    sep=sep,
                    index=False,
                    header=not self.rows,
                    float_format=self.spec.float_format,
                )
        self.rows += len(t)

    def _open(self, t) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        # the schema to_parquet infers from the first part, where the part leaves one undecided
        # (a column of missing values only) the spec's type
        schema = pa.Schema.from_pandas(t, preserve_index=False)
        declared = {c.name: c for c in self.spec.columns}
        for i, field in enumerate(schema):
            if pa.types.is_null(field.type) and field.name in declared:
                kind = getattr(pa, ARROW_TYPES[declared[field.name].dtype])()
                schema = schema.set(i, field.with_type(kind))
        self.schema = schema
        for path, tmp in zip(self.paths, self.tmp):
            if path.suffix == ".parquet":
                self.handles.append(pq.ParquetWriter(tmp, schema))
            else:  # as to_csv opens a path
                self.handles.append(open(tmp, "w", encoding="utf-8", newline=""))

    def close(self) -> None:
        for h in self.handles:
            h.close()
        for tmp, path in zip(self.tmp, self.paths):
            os.replace(tmp, path)

    def discard(self) -> None:
        for h in self.handles:
            try:
                h.close()
            except Exception:  # noqa: BLE001  (the job fails anyway: only the files go)
                pass
        for tmp in self.tmp:
            tmp.unlink(missing_ok=True)
