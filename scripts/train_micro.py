"""Rule train_micro: train one (model size, seed) run of the micro suite."""

import pandas as pd

from lmdyn.micro import train_run
from lmdyn.runner import run
from lmdyn.tokens import load_tokenizer


def main(sm, log):
    docs = pd.read_parquet(sm.input.docs)
    tok = load_tokenizer(sm.input.tokenizer)
    texts = docs.loc[docs.split == "train", "text"].tolist()
    eot = tok.eos_token_id
    ids = []
    for enc in tok(texts, add_special_tokens=False)["input_ids"]:
        ids.extend(enc + [eot])  # documents separated by <|endoftext|>, as in the Pile
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
    curve.to_csv(sm.output.curve, sep="\t", index=False)


run(main, snakemake)  # noqa: F821
