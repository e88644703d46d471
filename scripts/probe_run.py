"""Rule probe_run: the unigram latent probe at every analysed step of one run."""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lmdyn.core.internals import load_embeddings
from lmdyn.core.runner import run
from lmdyn.core.weightruns import run_steps
from lmdyn.core.workflow import sound_refs
from lmdyn.probe import compute as probe


def main(sm, log):
    p = sm.params
    u = pd.read_parquet(sm.input.unigram).sort_values("token_id").prob.to_numpy(np.float64)
    log_u = np.log(u)
    steps = sorted(r["step"] for r in sound_refs(sm.input.integrity, p.plan))
    if not steps:
        log.warning("no analysable step in this run (see the integrity table): empty tables")

    def compute(path, detailed):
        w = load_embeddings(path, len(log_u))
        res = probe.fit(w["W_U"].numpy(), log_u, max_iter=p.max_iter, rtol=p.rtol)
        row, per = probe.summarise(log_u, res)
        log.info(
            "%s: KL(u||probe) %.4f, loss %.4g after %d iterations (converged %s)",
            path,
            row["kl_u_probe"],
            row["loss"],
            row["iterations"],
            row["converged"],
        )
        out = {
            "probe": pd.DataFrame([{**row, "arch": w["arch"], "tied": w["tied"]}]),
            "deciles": per,
        }
        if detailed:
            pcs, share = probe.pca2(w["W_E"].numpy())
            out["tokens"] = pd.DataFrame(
                {
                    "token_id": np.arange(len(log_u)),
                    "log_u": log_u,
                    "log_probe": res["log_p"],
                    "pc1": pcs[:, 0],
                    "pc2": pcs[:, 1],
                    "pc1_share": share[0],
                    "pc2_share": share[1],
                }
            )
        return out

    params = {
        "analysis": "probe",
        "code": hashlib.sha256(Path(probe.__file__).read_bytes()).hexdigest(),
        "max_iter": p.max_iter,
        "rtol": p.rtol,
        "unigram": hashlib.sha256(np.ascontiguousarray(log_u).tobytes()).hexdigest(),
    }
    torch.set_num_threads(max(1, int(sm.threads)))
    tables = run_steps(
        p.plan,
        steps,
        sm.input.integrity,
        p.cache,
        params,
        compute,
        ("probe", "deciles"),
        detail=("tokens",),
        detail_steps=tuple({steps[0], steps[-1]}) if steps else (),
        log=log,
    )
    tables["probe"].to_parquet(sm.output.probe, index=False)
    tables["deciles"].to_parquet(sm.output.deciles, index=False)
    tables["tokens"].to_parquet(sm.output.tokens, index=False)


run(main, snakemake)  # noqa: F821
