"""Rule size_divergence: per-token KL between model sizes at the same step and seed."""

from itertools import combinations

import pandas as pd

from lmdyn import registry
from lmdyn.evaluate import pair_side, pair_table
from lmdyn.runner import run
from lmdyn.tokens import predicted


def main(sm, log):
    p = sm.params
    vocab = len(pd.read_parquet(sm.input.unigram))
    keys = predicted(pd.read_parquet(sm.input.tokens))
    combos = [(m, s) for m in p.models for s in p.seeds]
    hidden = dict(zip(combos, sm.input.hidden))
    refs = dict(zip(combos, p.checkpoints))

    def path(m, seed):
        ref = refs[(m, seed)]
        return registry.resolve(registry.as_checkpoint(ref), ref.get("cache_dir"))
    tables = []
    for seed in p.seeds:
        sides = {m: pair_side(hidden[(m, seed)], path(m, seed), vocab) for m in p.models}
        for a, b in combinations(p.models, 2):
            t = pair_table(keys, sides[a], sides[b], p.device, p.vocab_chunk, p.token_chunk)
            tables.append(t.assign(seed=seed, model_a=a, model_b=b))
            log.info("seed %d step %d: KL(%s||%s) %.4f, reverse %.4f", seed, p.step, a, b, t.kl_ab.mean(), t.kl_ba.mean())
    cols = ["doc_id", "position", "seed", "model_a", "model_b", "kl_ab", "kl_ba"]
    pd.concat(tables, ignore_index=True)[cols].to_parquet(sm.output[0], index=False)


run(main, snakemake)  # noqa: F821
