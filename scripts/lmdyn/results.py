"""The workflow's output tables from Python: what each one holds, and any of them as a typed frame.

:func:`tables` lists every table the workflow writes (from the declarations in
``lmdyn.<family>.tables``); :func:`load` reads one table of a finished ``results/`` folder for every
suite (or model, seed, step) that has it, with the declared dtypes, filtered by any column.
Light at import: pandas is imported when a table is read.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from lmdyn.core.errors import UserError

KEY_ORDER = ("suite", "model", "seed", "step")
_INT_KEYS = ("seed", "step")


def _registry() -> list:
    from lmdyn.core.outputs import all_tables

    return all_tables()


def spec(name: str):
    """The declaration (:class:`lmdyn.core.tables.Table`) of the table called ``name``."""
    found = {t.name: t for t in _registry()}
    if name in found:
        return found[name]
    close = difflib.get_close_matches(str(name), list(found), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; lmdyn.tables() lists them"
    raise UserError(f"no output table is called {name!r}{hint}")


def _family(title: str) -> str:
    m = re.search(r"`lmdyn\.(\w+)`", title)
    return m.group(1) if m else title


def tables(name: str | None = None):
    """Every output table, one row each (``table``, ``family``, ``path`` under results/, ``files``,
    ``columns``, ``meaning``); with ``name``, that table's columns, one row each (``column``,
    ``dtype``, ``pandas_dtype``, ``unit``, ``nullable``, ``meaning``)."""
    import pandas as pd

    from lmdyn.core.outputs import families
    from lmdyn.core.tables import _pandas_dtype

    if name is not None:
        t = spec(name)
        rows = [
            (c.name, c.dtype, _pandas_dtype(c), c.unit, c.nullable, c.meaning) for c in t.columns
        ]
        cols = ["column", "dtype", "pandas_dtype", "unit", "nullable", "meaning"]
        return pd.DataFrame(rows, columns=cols)
    rows = [
        (t.name, _family(title), t.path, t.paths(), t.names, t.meaning)
        for title, group in families()
        for t in group
    ]
    return pd.DataFrame(rows, columns=["table", "family", "path", "files", "columns", "meaning"])


def _path_regex(pattern: str) -> re.Pattern:
    """A path pattern as a regex with one named group per wildcard."""
    from lmdyn.core.tables import WILDCARDS

    parts = re.split(r"\{(\w+)\}", pattern)
    rx = "".join(
        re.escape(p) if i % 2 == 0 else f"(?P<{p}>{WILDCARDS[p]})" for i, p in enumerate(parts)
    )
    return re.compile(rx + "$")


def files(table: str, results="results") -> list[tuple[Path, dict]]:
    """(file, wildcard values) of every file of ``table`` under ``results``, in key order."""
    t = spec(table)
    root = Path(results)
    if not root.is_dir():
        raise UserError(
            f"results folder {root} does not exist; run the workflow first or pass results=<folder>"
        )
    rx = _path_regex(t.path)
    found = []
    for f in root.glob(re.sub(r"\{\w+\}", "*", t.path)):
        m = rx.match(f.relative_to(root).as_posix())
        if m and f.is_file():
            keys = {k: int(v) if k in _INT_KEYS else v for k, v in m.groupdict().items()}
            found.append((f, keys))
    found.sort(key=lambda x: [x[1][k] for k in KEY_ORDER if k in x[1]] + [x[0].as_posix()])
    return found


def _wanted(value) -> list:
    """A filter value as a list (a scalar, or a list, tuple, set or array of them)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def _as_column(values: list, dtype: str) -> list:
    """Filter values converted to a column's dtype family (``seed="0"`` finds seed 0)."""
    try:
        conv = {"int": int, "float": float, "str": str, "bool": bool}[dtype]
        return [conv(v) for v in values]
    except (TypeError, ValueError):
        return values


def _typed(t, df):
    """``df`` with every declared column in its declared pandas dtype."""
    from lmdyn.core.tables import _pandas_dtype

    for c in t.columns:
        if c.name in df.columns and str(df[c.name].dtype) != _pandas_dtype(c):
            df[c.name] = df[c.name].astype(_pandas_dtype(c))
    return df


def _read_all(t, found: list):
    """The files of ``found`` as one frame, the wildcard keys a file lacks added from its path."""
    import pandas as pd

    from lmdyn.core.tables import read

    frames = []
    for f, keys in found:
        df = read(t, f)
        missing = [k for k in KEY_ORDER if k in keys and k not in df.columns]
        for i, k in enumerate(missing):  # in front, in key order
            df.insert(
                i, k, pd.Series([keys[k]] * len(df), dtype="int64" if k in _INT_KEYS else "str")
            )
        frames.append(df)
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return _typed(t, out.reset_index(drop=True))


def _no_rows(table: str, key: str, want: list, have) -> UserError:
    have = {v.item() if hasattr(v, "item") else v for v in have if v == v}  # NA != NA: left out
    try:
        have = sorted(have)
    except TypeError:
        have = sorted(have, key=str)
    shown = ", ".join(repr(v) for v in have[:12]) + (", ..." if len(have) > 12 else "")
    return UserError(f"table {table} has no rows with {key}={want!r}; it has {key} {shown}")


def load(table: str, results="results", **filters):
    """Table ``table`` of the results folder ``results`` as one pandas DataFrame, every file of it
    (every suite, and for per-run tables every model, seed and step) concatenated in key order.

    Columns have their declared dtypes (``lmdyn.tables(table)``); key columns a file does not hold
    (``suite``, ``model``, ``seed``, ``step`` of per-run tables) are added in front from its path.
    ``filters``: column=value or column=[values], e.g. ``suite="micro", seed=[0, 1], step=512``;
    files are chosen by their path where it holds the key, rows by value otherwise.
    """
    t = spec(table)
    found = files(table, results)
    if not found:
        raise UserError(
            f"no file of table {table} ({t.path}) under {results}; run the workflow (or the "
            "target of the table's family) first, or pass results=<folder>"
        )
    wants = {k: _wanted(v) for k, v in filters.items()}
    declared = {c.name: c.dtype for c in t.columns}
    for k, v in wants.items():
        dtype = "int" if k in _INT_KEYS else declared.get(k, "str")
        wants[k] = _as_column(v, dtype)
        if k not in declared and k not in found[0][1]:
            cols = ", ".join(t.names)
            raise UserError(f"table {table} has no column {k!r} to filter on; columns: {cols}")
    for k, v in wants.items():
        if k in found[0][1]:
            kept = [x for x in found if x[1][k] in v]
            if not kept:
                raise _no_rows(table, k, v, [x[1][k] for x in found])
            found = kept
    df = _read_all(t, found)
    for k, v in wants.items():
        if k not in found[0][1]:
            kept = df[df[k].isin(v)]
            if kept.empty and len(df):
                raise _no_rows(table, k, v, df[k].unique())
            df = kept.reset_index(drop=True)
    return df
