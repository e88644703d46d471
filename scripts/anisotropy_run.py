"""Rule anisotropy_run: cosine statistics of W_E (and of W_U when untied) at every analysed step of one run."""

import hashlib
from pathlib import Path

import pandas as pd
import torch

from lmdyn.anisotropy import compute as aniso
from lmdyn.anisotropy.compute import anisotropy
from lmdyn.core.internals import load_embeddings
from lmdyn.core.runner import run
from lmdyn.core.weightruns import run_steps
from lmdyn.core.workflow import sound_refs


def main(sm, log):
    p = sm.params
    vocab = len(pd.read_parquet(sm.input.unigram, columns=["token_id"]))

    def compute(path, detailed):
        w = load_embeddings(path, vocab)
        rows, hists = [], []
        for matrix in ("W_E",) if w["tied"] else ("W_E", "W_U"):
            r, h = anisotropy(w[matrix], sample=p.sample, seed=p.sample_seed, bins=p.bins)
            rows += [{"matrix": matrix, **x} for x in r]
            hists.append(h.assign(matrix=matrix))
        log.info(
            "%s: mean cosine %s",
            path,
            ", ".join(f"{r['matrix']} {r['variant']} {r['mean_cos']:.3f}" for r in rows),
        )
        stats = pd.DataFrame(rows).assign(arch=w["arch"], tied=w["tied"])
        return {"stats": stats, "hist": pd.concat(hists, ignore_index=True)}

    params = {
        "analysis": "anisotropy",
        "code": hashlib.sha256(Path(aniso.__file__).read_bytes()).hexdigest(),
        "sample": p.sample,
        "seed": p.sample_seed,
        "bins": p.bins,
    }
    torch.set_num_threads(max(1, int(sm.threads)))
    steps = sorted(r["step"] for r in sound_refs(sm.input.integrity, p.plan))
    tables = run_steps(
        p.plan, steps, sm.input.integrity, p.cache, params, compute, ("stats", "hist"), log=log
    )
    tables["stats"].to_parquet(sm.output.stats, index=False)
    tables["hist"].to_parquet(sm.output.hist, index=False)


run(main, snakemake)  # noqa: F821
