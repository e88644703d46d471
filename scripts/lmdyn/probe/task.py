"""The probe's per-checkpoint task: the fit on W_U, its summary and, at chosen steps, per token."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmdyn.core.engine import Task, run_table
from lmdyn.probe import PROBE
from lmdyn.probe import compute as probe


class Probe(Task):
    """``probe.parquet`` (one row), ``deciles.parquet`` and, at ``detail_steps``, ``tokens.parquet``
    (per token: log u, log probe, the first two principal components of W_E).

    Options: ``max_iter``, ``rtol`` (the default Gauss-Newton solver) or ``solver: published`` with
    ``adam_lr``, ``adam_iterations`` (the original's Adam recipe). Inputs: ``unigram``.
    """

    spec = PROBE
    files = ("probe.parquet", "deciles.parquet")
    detail_steps: tuple[int, ...] = ()

    def setup(self, run) -> None:
        u = (
            pd.read_parquet(self.inputs["unigram"])
            .sort_values("token_id")
            .prob.to_numpy(np.float64)
        )
        self.log_u = np.log(u)

    def prepare(self, refs) -> None:
        steps = [int(r["step"]) for r in refs]
        self.detail_steps = tuple({steps[0], steps[-1]}) if steps else ()  # first and last

    def run_tables(self, entries, refs) -> dict:
        detail = [r for r in refs if int(r["step"]) in self.detail_steps]
        return {
            "probe": run_table(entries, refs, "probe", "probe"),
            "probe_deciles": run_table(entries, refs, "probe", "deciles"),
            "probe_tokens": run_table(entries, detail, "probe", "tokens"),
        }

    def parts(self, step: int) -> tuple[str, ...]:
        return self.files + (("tokens.parquet",) if step in self.detail_steps else ())

    def end(self, folder, ckpt) -> str:
        w, log_u, o = ckpt.weights, self.log_u, self.options
        res = probe.solve(w["W_U"].numpy(), log_u, o)
        row, per = probe.summarise(log_u, res)
        row = {
            **row,
            "solver": o.get("solver", "gauss_newton"),
            "arch": w["arch"],
            "tied": w["tied"],
        }
        pd.DataFrame([row]).to_parquet(folder / "probe.parquet", index=False)
        per.to_parquet(folder / "deciles.parquet", index=False)
        if ckpt.step in self.detail_steps:
            tokens = probe.token_table(log_u, res, w["W_E"].numpy())
            tokens.to_parquet(folder / "tokens.parquet", index=False)
        return (
            f"KL(u||probe) {row['kl_u_probe']:.4f}, loss {row['loss']:.4g} after "
            f"{row['iterations']} iterations (converged {row['converged']})"
        )
