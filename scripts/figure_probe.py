"""Rule figure_probe."""

import json
from pathlib import Path

import pandas as pd

from lmdyn.core.plots import figure_paths
from lmdyn.core.runner import run
from lmdyn.probe import figures as wf


def special_ids(tokenizer_dir):
    """Ids of the tokenizer's special tokens (from tokenizer.json: no tokenizer library needed)."""
    f = Path(tokenizer_dir) / "tokenizer.json"
    if not f.exists():
        return []
    return sorted(
        t["id"] for t in json.loads(f.read_text()).get("added_tokens", []) if t.get("special")
    )


def main(sm, log):
    probe, tokens = pd.read_parquet(sm.input.table), pd.read_parquet(sm.input.tokens)
    special = special_ids(sm.input.tokenizer)
    log.info("special tokens %s", special)
    dpi = sm.params.dpi
    wf.probe_kl(probe, figure_paths(sm.output, "kl"), dpi)
    wf.probe_scatter(tokens, special, figure_paths(sm.output, "scatter"), dpi)
    wf.probe_pca(tokens, special, figure_paths(sm.output, "pca"), dpi)


run(main, snakemake)  # noqa: F821
