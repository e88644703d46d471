"""Rule neurons_run: token neurons of every checkpoint of one run (model x seed), in one process."""

import numpy as np
import pandas as pd

from lmdyn import neurons, registry
from lmdyn.checkpoints import load_model, pick_device
from lmdyn.forward import windows_of
from lmdyn.internals import Internals
from lmdyn.runner import run
from lmdyn.tokens import load_tokenizer

TABLES = ("summary", "lens", "layer_patch", "neuron_patch", "top_neuron", "outliers", "exclusive",
          "target_congruence", "activation")


def main(sm, log):
    p = sm.params
    device = pick_device(p.device)
    vocab = len(pd.read_parquet(sm.input.unigram))  # the tokenizer's size, as in the metrics pass
    tokenizer = load_tokenizer(sm.input.tokenizer)
    for pr in p.prompts:  # fail before any checkpoint is loaded
        for t in p.targets:
            neurons.target_id(tokenizer, pr["name"], t)
    windows = windows_of(pd.read_parquet(sm.input.tokens))
    if p.n_windows is not None and len(windows) > p.n_windows:
        take = np.sort(np.random.default_rng(p.seed).choice(len(windows), size=p.n_windows, replace=False))
        windows = [windows[i] for i in take]
    tables: dict[str, list] = {k: [] for k in TABLES}
    for ref in p.checkpoints:
        step = int(ref["step"])
        path = registry.resolve(registry.as_checkpoint(ref), ref.get("cache_dir"))
        ix = Internals(load_model(path, device), vocab)
        out = neurons.checkpoint_tables(
            step, ix, tokenizer, p.prompts, p.targets, p.prepend_bos, windows, patch_layers=p.patch_layers,
            max_patch_neurons=p.max_patch_neurons, center=p.center_unembed, top_pairs=p.top_pairs,
            n_activation_pairs=p.activation_pairs, n_bins=p.n_bins, vocab_chunk=p.vocab_chunk)
        s = out["summary"].iloc[0]
        log.info("step %d: %s logit difference clean %.3f, corrupted %.3f", step, s.prompt, s.logit_diff_clean,
                 s.logit_diff_corrupted)
        for k in TABLES:
            tables[k].append(out[k])
    for k in TABLES:
        t = pd.concat(tables[k], ignore_index=True)
        t.insert(0, "seed", int(p.seed_label))
        t.insert(0, "model", p.model)
        t.to_parquet(sm.output[k], index=False)


run(main, snakemake)  # noqa: F821
