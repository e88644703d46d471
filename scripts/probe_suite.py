"""Rule probe_suite: suite tables (parquet + CSV) and figures of the unigram latent probe."""

import json
from pathlib import Path

import pandas as pd

from lmdyn import weightfigures as wf
from lmdyn.runner import run


def special_ids(tokenizer_dir):
    """Ids of the tokenizer's special tokens (from tokenizer.json: no tokenizer library needed)."""
    f = Path(tokenizer_dir) / "tokenizer.json"
    if not f.exists():
        return []
    return sorted(t["id"] for t in json.loads(f.read_text()).get("added_tokens", []) if t.get("special"))


def main(sm, log):
    probe = pd.concat([pd.read_parquet(f) for f in sm.input.probe], ignore_index=True)
    deciles = pd.concat([pd.read_parquet(f) for f in sm.input.deciles], ignore_index=True)
    tokens = pd.concat([pd.read_parquet(f) for f in sm.input.tokens], ignore_index=True)
    if not probe.empty and not probe.converged.all():
        log.warning("probe stopped at max_iter before its stopping rule for %d checkpoints", (~probe.converged).sum())
    probe.to_parquet(sm.output.table, index=False)
    probe.to_csv(sm.output.csv, index=False)
    deciles.to_parquet(sm.output.deciles, index=False)
    deciles.to_csv(sm.output.deciles_csv, index=False)
    tokens.to_parquet(sm.output.tokens, index=False)
    special = special_ids(sm.input.tokenizer)
    log.info("%d checkpoints; special tokens %s", len(probe), special)
    dpi = sm.params.dpi
    wf.probe_kl(probe, [sm.output.kl], dpi)
    wf.probe_scatter(tokens, special, [sm.output.scatter], dpi)
    wf.probe_pca(tokens, special, [sm.output.pca], dpi)


run(main, snakemake)  # noqa: F821
