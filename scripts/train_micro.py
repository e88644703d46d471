"""Rule train_micro: train one (model size, seed) run of the micro suite."""

import numpy as np

from lmdyn.core.integrity import run_integrity
from lmdyn.core.runner import run
from lmdyn.core.tables import INTEGRITY_RUN, write
from lmdyn.data.micro import train_run
from lmdyn.data.tables import TRAINING
from lmdyn.data.tokens import load_tokenizer


def main(sm, log):
    tok = load_tokenizer(sm.input.tokenizer)
    split = np.load(sm.input.train_ids)  # the train split, encoded once by train_tokenizer
    docs = np.split(split["ids"].astype(np.int64), np.cumsum(split["lengths"])[:-1])
    eot = tok.eos_token_id
    ids = []
    for enc in docs:
        ids.extend(enc.tolist() + [eot])  # documents separated by <|endoftext|>, as in the Pile
    t = sm.params.train
    curve = train_run(
        arch=sm.params.arch,
        size=sm.params.size,
        seed=int(sm.wildcards.seed),
        train_ids=ids,
        vocab_size=len(tok),
        context_length=sm.params.context_length,
        steps=sm.params.steps,
        batch_size=t["batch_size"],
        lr=t["lr"],
        warmup=t["warmup"],
        weight_decay=t["weight_decay"],
        out_dir=sm.output.run,
        tokenizer_dir=sm.input.tokenizer,
        log=log,
        label=f"suite {sm.wildcards.suite}, model {sm.wildcards.model}, seed {sm.wildcards.seed}",
    )
    write(TRAINING, curve, sm.output.curve)
    # the run's integrity table (hashes of the checkpoints just written), as fetch_run makes for a
    # published suite: the run's analyses start as soon as it is written
    write(INTEGRITY_RUN, run_integrity(sm.params.plan, log), sm.output.integrity)


run(main, snakemake)  # noqa: F821
