"""Every output table of the workflow: the registry of the families' specs (lmdyn.core.tables),
a check of a results/ folder against it, and the tables section of docs/outputs.md made from it
(``python tools/docs.py generate`` writes it; ``python -m lmdyn.core.outputs`` prints it)."""

from __future__ import annotations

import sys
from pathlib import Path

from lmdyn.core.tables import (
    FORMATS,
    KEY_NAMES,
    KEYS,
    TABLES,
    TITLE,
    Table,
    TableError,
    problems,
    read,
)

# ---- the registry ----------------------------------------------------------------------------------


def families() -> list[tuple[str, list[Table]]]:
    """(title, tables) of the data stages, the core and each family, in the order of the docs."""
    from lmdyn.anisotropy import tables as anisotropy
    from lmdyn.data import tables as data
    from lmdyn.divergence import tables as divergence
    from lmdyn.geometry import tables as geometry
    from lmdyn.neurons import tables as neurons
    from lmdyn.probe import tables as probe
    from lmdyn.timeline import tables as timeline

    core = (TITLE, TABLES)
    return [(data.TITLE, list(data.TABLES)), core] + [
        (m.TITLE, list(m.TABLES))
        for m in (divergence, probe, anisotropy, geometry, neurons, timeline)
    ]


def all_tables() -> list[Table]:
    """Every table the workflow writes (names and path patterns are unique)."""
    out = [t for _, tables in families() for t in tables]
    for what in ("name", "path"):
        values = [getattr(t, what) for t in out]
        dup = sorted({v for v in values if values.count(v) > 1})
        if dup:
            raise ValueError(f"table {what}s declared twice: {dup}")
    return out


def get(name: str) -> Table:
    """The table of that name."""
    for t in all_tables():
        if t.name == name:
            return t
    raise KeyError(f"no table named {name!r}")


def spec_of(path) -> Table | None:
    """The table a file under results/ belongs to, if any."""
    found = [t for t in all_tables() if t.matches(path)]
    if len(found) > 1:
        raise TableError(f"{path} matches several tables: {[t.name for t in found]}")
    return found[0] if found else None


def check_results(root) -> list[str]:
    """Problems of the tables under a finished ``results/`` folder: files no spec declares, and
    files that do not match their spec (CSV and TSV files are read back with the spec's dtypes).
    The result store's entries are the engine's (lmdyn.core.store), not output tables."""
    out = []
    root = Path(root)
    for f in sorted(root.rglob("*"), key=lambda f: f.as_posix()):
        if f.suffix not in FORMATS or not f.is_file():
            continue
        rel = f.relative_to(root).as_posix()
        if rel.startswith("store/"):
            continue
        spec = spec_of(rel)
        if spec is None:
            out.append(f"{rel}: no table declares it")
            continue
        try:
            df = read(spec, f)
        except (ValueError, TypeError) as e:  # a value that cannot take the spec's dtype
            out.append(f"{rel}: cannot be read as table {spec.name}: {e}")
            continue
        out += [f"{rel}: {p}" for p in problems(spec, df)]
    return out


# ---- markdown (docs/outputs.md) ---------------------------------------------------------------------

MARK_BEGIN = "<!-- tables: generated from the table specs by `python tools/docs.py generate`, do not edit -->"
MARK_END = "<!-- /tables -->"
LEGEND = (
    "Every table under `results/`, declared once in `lmdyn.<family>.tables` "
    "(`lmdyn.core.tables.all_tables()`); the rule scripts check each table against its declaration "
    "before writing it. Types: `int`, `float`, `str`, `bool`; `?` marks a column that may be "
    "missing (NA; an empty field in CSV). A unit `-` is a label, an index or a count. "
    "Key columns mean the same in every table (a table's list of columns names them; its "
    "rows describe the others): "
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _files(t: Table) -> str:
    return ", ".join(f"`{p}`" for p in t.paths())


def _same_as(t: Table, earlier: list[Table]) -> tuple[Table, list[str]] | None:
    """An earlier table whose columns are this one's plus some keys (to point at, not repeat)."""
    for e in earlier:
        drop = [c.name for c in e.columns if c not in t.columns]
        kept = tuple(c for c in e.columns if c.name not in drop)
        if set(drop) <= KEY_NAMES and kept == t.columns and e.extra == t.extra:
            return e, drop
    return None


def markdown(groups: list[tuple[str, list[Table]]] | None = None) -> str:
    """The outputs section: per family, each table's files, meaning and columns."""
    if groups is None:
        all_tables()  # names and paths unique
        groups = families()
    keys = "; ".join(f"`{c.name}` ({c.dtype}): {c.meaning}" for c in KEYS)
    lines = [MARK_BEGIN, "", LEGEND + _cell(keys) + ".", ""]
    done: list[Table] = []
    for title, tables in groups:
        lines += [f"### {title}", ""]
        for t in tables:
            lines += [f"**{t.name}** ({_files(t)}): {_cell(t.meaning)}", ""]
            same = _same_as(t, done)
            done.append(t)
            if same is not None:
                e, drop = same
                less = f" less {', '.join(f'`{d}`' for d in drop)}" if drop else ""
                lines += [f"Columns: those of **{e.name}**{less}.", ""]
                continue
            lead = []
            for c in t.columns:  # the leading key columns: their meaning is the legend's
                if c not in KEYS:
                    break
                lead.append(c)
            names = ", ".join(t.names) + (", ..." if t.extra else "")
            lines += [f"<details><summary>Columns: {names}</summary>", ""]
            lines += ["| column | type | unit | meaning |", "| --- | --- | --- | --- |"]
            for c in t.columns[len(lead) :]:
                kind = c.dtype + ("?" if c.nullable else "")
                unit = _cell(c.unit) or "-"
                lines.append(f"| `{c.name}` | {kind} | {unit} | {_cell(c.meaning)} |")
            if t.extra:
                lines.append(f"| ... | | | {_cell(t.extra)} |")
            lines += ["", "</details>", ""]
    lines.append(MARK_END)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
