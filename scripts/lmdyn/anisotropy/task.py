"""Anisotropy's per-checkpoint task: cosine statistics of W_E, and of W_U when untied."""

from __future__ import annotations

import pandas as pd

from lmdyn.anisotropy import ANISOTROPY
from lmdyn.anisotropy.compute import anisotropy
from lmdyn.core.engine import Task, run_table


class Anisotropy(Task):
    """``stats.parquet`` (one row per matrix and variant) and ``hist.parquet``.

    Options: ``sample``, ``seed`` (of the row sample), ``bins``, ``vocab``.
    """

    spec = ANISOTROPY
    files = ("stats.parquet", "hist.parquet")

    def run_tables(self, entries, refs) -> dict:
        return {
            "anisotropy": run_table(entries, refs, "anisotropy", "stats"),
            "anisotropy_hist": run_table(entries, refs, "anisotropy", "hist"),
        }

    def end(self, folder, ckpt) -> str:
        w, o = ckpt.weights, self.options
        rows, hists = [], []
        for matrix in ("W_E",) if w["tied"] else ("W_E", "W_U"):
            r, h = anisotropy(w[matrix], sample=o["sample"], seed=o["seed"], bins=o["bins"])
            rows += [{"matrix": matrix, **x} for x in r]
            hists.append(h.assign(matrix=matrix))
        stats = pd.DataFrame(rows).assign(arch=w["arch"], tied=w["tied"])
        stats.to_parquet(folder / "stats.parquet", index=False)
        pd.concat(hists, ignore_index=True).to_parquet(folder / "hist.parquet", index=False)
        return "mean cosine " + ", ".join(
            f"{r['matrix']} {r['variant']} {r['mean_cos']:.3f}" for r in rows
        )
