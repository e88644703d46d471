"""Rule pair_divergence: seed-pair KL at one step and consecutive-step KL per seed, per token."""

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
    steps = [p.step] + ([p.prev_step] if p.prev_step is not None else [])
    keys_ = [(st, s) for st in steps for s in p.seeds]
    hidden = dict(zip(keys_, sm.input.hidden))
    refs = dict(zip(keys_, p.checkpoints))

    sides = {}

    def ckpt(seed, step):
        if (seed, step) not in sides:
            ref = refs[(step, seed)]
            path = registry.resolve(registry.as_checkpoint(ref), ref.get("cache_dir"))
            sides[(seed, step)] = pair_side(hidden[(step, seed)], path, vocab)
        return sides[(seed, step)]

    kw = dict(device=p.device, vocab_chunk=p.vocab_chunk, token_chunk=p.token_chunk)
    seed_tables = []
    for a, b in combinations(p.seeds, 2):
        t = pair_table(keys, ckpt(a, p.step), ckpt(b, p.step), **kw)
        seed_tables.append(t.assign(seed_a=a, seed_b=b))
        log.info("seeds %d-%d at step %d: mean KL(a||b) %.4f, KL(b||a) %.4f", a, b, p.step, t.kl_ab.mean(), t.kl_ba.mean())
    step_tables = []
    if p.prev_step is not None:
        for s in p.seeds:
            t = pair_table(keys, ckpt(s, p.prev_step), ckpt(s, p.step), **kw)
            step_tables.append(t.assign(seed=s, step_a=p.prev_step, step_b=p.step))
            log.info("seed %d, step %d vs %d: mean KL(prev||cur) %.4f", s, p.prev_step, p.step, t.kl_ab.mean())
    cols_seed = ["doc_id", "position", "seed_a", "seed_b", "kl_ab", "kl_ba"]
    cols_step = ["doc_id", "position", "seed", "step_a", "step_b", "kl_ab", "kl_ba"]
    frame(seed_tables, cols_seed).to_parquet(sm.output.seeds, index=False)
    frame(step_tables, cols_step).to_parquet(sm.output.steps, index=False)


def frame(tables, cols):
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype="float32" if c.startswith("kl") else "int64") for c in cols})
    return pd.concat(tables, ignore_index=True)[cols]


run(main, snakemake)  # noqa: F821
