"""Rule pair_divergence: every seed-pair, consecutive-step and cross-size KL of each step of one
pair job, per token, each step's tables a result store entry (computed only where missing)."""

import json

import pandas as pd

from lmdyn.core.runner import run
from lmdyn.core.store import Store, file_hash
from lmdyn.data.tokens import predicted
from lmdyn.divergence.jobs import PAIR_KINDS, pair_key
from lmdyn.divergence.pairs import pair_tables


def write_tables(tables, folder, log):
    for kind in PAIR_KINDS:
        t = tables[kind]
        if len(t):
            log.info(
                "%s pairs: %d rows, mean KL(a||b) %.4f, KL(b||a) %.4f",
                kind,
                len(t),
                t.kl_ab.mean(),
                t.kl_ba.mean(),
            )
        t.to_parquet(folder / f"{kind}.parquet", index=False)


def main(sm, log):
    p = sm.params
    vocab = len(pd.read_parquet(sm.input.unigram))
    keys = predicted(pd.read_parquet(sm.input.tokens))
    options = {
        "device": p.device,
        "vocab_chunk": p.vocab_chunk,
        "token_chunk": p.token_chunk,
        "max_checkpoints": p.max_checkpoints,
        "tokens": file_hash(sm.input.tokens),
        "unigram": file_hash(sm.input.unigram),
    }
    store, manifest = Store(log=log), {}
    for job in p.jobs:
        key = pair_key(job, p.entries, options)
        folder = store.get("pairs", key, [f"{k}.parquet" for k in PAIR_KINDS])
        if folder is None:

            def write(d, job=job):
                tables = pair_tables(
                    job,
                    p.checkpoints,
                    keys,
                    vocab,
                    p.device,
                    p.vocab_chunk,
                    p.token_chunk,
                    log=log,
                    max_checkpoints=p.max_checkpoints,
                )
                write_tables(tables, d, log)

            folder, _ = store.put("pairs", key, write, {"job": job})
            log.info("step %d: computed", job["step"])
        else:
            log.info("step %d: from the store", job["step"])
        manifest[job["step"]] = str(folder)
    with open(sm.output.manifest, "w") as f:
        json.dump(manifest, f, indent=1)


run(main, snakemake)  # noqa: F821
