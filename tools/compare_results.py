"""Compare the tables of two results folders: byte-identical, equal values, or different.

    python tools/compare_results.py RESULTS_A RESULTS_B

Every parquet, CSV and TSV file outside the result store; a file whose bytes differ is read back and
compared as a frame (exactly, then within 1e-6 relative); files only in one folder are listed.
Exit status 1 when any table differs or is missing on one side.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

SUFFIXES = (".parquet", ".csv", ".tsv")


def tables(root: Path) -> set[Path]:
    return {
        p.relative_to(root)
        for p in root.rglob("*")
        if p.suffix in SUFFIXES and "store" not in p.relative_to(root).parts
    }


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    sep = "\t" if path.suffix == ".tsv" else ","
    return pd.read_csv(path, sep=sep, lineterminator="\n", keep_default_na=False)


def compare(a: Path, b: Path) -> dict[str, list]:
    out: dict[str, list] = {"identical": [], "exact": [], "close": [], "differ": []}
    ta, tb = tables(a), tables(b)
    for rel in sorted(ta & tb):
        if (a / rel).read_bytes() == (b / rel).read_bytes():
            out["identical"].append(rel)
            continue
        x, y = read(a / rel), read(b / rel)
        try:
            pd.testing.assert_frame_equal(x, y, check_exact=True)
            out["exact"].append(rel)
        except AssertionError:
            try:
                pd.testing.assert_frame_equal(x, y, check_dtype=False, rtol=1e-6)
                out["close"].append(rel)
            except AssertionError as e:
                out["differ"].append((rel, str(e).splitlines()[:3]))
    out["only_a"], out["only_b"] = sorted(ta - tb), sorted(tb - ta)
    return out


def main() -> int:
    a, b = Path(sys.argv[1]), Path(sys.argv[2])
    out = compare(a, b)
    for kind in ("exact", "close", "differ", "only_a", "only_b"):
        for item in out[kind]:
            print(kind, *item) if isinstance(item, tuple) else print(kind, item)
    print(", ".join(f"{k} {len(v)}" for k, v in out.items()))
    return 1 if out["differ"] or out["only_a"] or out["only_b"] else 0


if __name__ == "__main__":
    sys.exit(main())
