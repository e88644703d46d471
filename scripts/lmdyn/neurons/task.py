"""The token neurons' per-checkpoint task, on the loaded model."""

from __future__ import annotations

from lmdyn.core.engine import Task, run_table
from lmdyn.core.errors import warn
from lmdyn.neurons import NEURONS, TABLES
from lmdyn.neurons.activation import sample_windows
from lmdyn.neurons.checkpoint import checkpoint_tables
from lmdyn.neurons.promptcheck import check_prompts


class TokenNeurons(Task):
    """One parquet per token-neuron table (:data:`lmdyn.neurons.TABLES`) of a checkpoint
    (:func:`checkpoint_tables`).

    Options (config ``neurons``, the suite's prompts, targets and BOS policy, and ``seed``):
    prompts, targets, prepend_bos, patch_layers, max_patch_neurons, center_unembed, top_pairs,
    activation_pairs, n_bins, n_windows, vocab_chunk, min_gap, seed. Inputs: ``tokenizer``, ``tokens``.
    """

    spec = NEURONS
    files = tuple(f"{t}.parquet" for t in TABLES)

    def setup(self, run) -> None:
        from lmdyn.data.tokens import load_tokenizer

        o = self.options
        self.vocab = run.vocab
        self.tokenizer = load_tokenizer(self.inputs["tokenizer"])
        check_prompts(self.tokenizer, o)  # a bad target or prompt pair fails before any load
        self.windows = sample_windows(run.windows, o["n_windows"], int(o["seed"]))
        if o["n_windows"] is not None and len(self.windows) < o["n_windows"]:
            warn(
                run.log,
                f"neurons.n_windows is {o['n_windows']} but there are {len(self.windows)} evaluation "
                f"windows: using all {len(self.windows)}; lower neurons.n_windows (or null: all)",
            )

    def run_tables(self, entries, refs) -> dict:
        # the entry's own step column is overwritten: an entry is shared by every checkpoint
        # with the same weights (of another run, or another suite)
        keys = ("model", "seed", "step")
        return {f"neurons_{t}": run_table(entries, refs, "neurons", t, keys) for t in TABLES}

    def end(self, folder, ckpt) -> str:
        from lmdyn.core.internals import Internals

        o = self.options
        out = checkpoint_tables(
            ckpt.step,
            Internals(ckpt.model, self.vocab),
            self.tokenizer,
            o["prompts"],
            o["targets"],
            o["prepend_bos"],
            self.windows,
            patch_layers=o["patch_layers"],
            max_patch_neurons=o["max_patch_neurons"],
            center=o["center_unembed"],
            top_pairs=o["top_pairs"],
            n_activation_pairs=o["activation_pairs"],
            n_bins=o["n_bins"],
            vocab_chunk=o["vocab_chunk"],
            min_gap=o["min_gap"],
        )
        for k in TABLES:
            out[k].to_parquet(folder / f"{k}.parquet", index=False)
        s = out["summary"].iloc[0]
        return (
            f"{s.prompt} logit difference clean {s.logit_diff_clean:.3f}, "
            f"corrupted {s.logit_diff_corrupted:.3f}"
        )
