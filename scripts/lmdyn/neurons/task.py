"""The token neurons' per-checkpoint analysis, run on the loaded model."""

from __future__ import annotations

from lmdyn.core.extra import Extra
from lmdyn.neurons.activation import sample_windows
from lmdyn.neurons.checkpoint import TABLES, checkpoint_tables
from lmdyn.neurons.prompts import encode_pair, target_id


class TokenNeurons(Extra):
    """The run pass's ``neurons`` extra: every token-neuron table of a checkpoint (:func:`checkpoint_tables`),
    computed on the loaded model once the metrics pass is over.

    Options (config ``neurons``, the suite's prompts, targets and BOS policy, and ``seed``): prompts,
    targets, prepend_bos, patch_layers, max_patch_neurons, center_unembed, top_pairs, activation_pairs,
    n_bins, n_windows, vocab_chunk, seed. ``files["tokenizer"]``: the suite's tokenizer. Writes one
    parquet per table, ``step{step}.{table}.parquet`` (:data:`TABLES`).
    """

    name = "neurons"
    suffix = ""

    def setup(self, windows, docs, vocab) -> None:
        from lmdyn.data.tokens import load_tokenizer

        o = self.options
        self.vocab = vocab
        self.tokenizer = load_tokenizer(self.files["tokenizer"])
        for p in o["prompts"]:  # a bad target or prompt pair fails before any checkpoint is loaded
            for t in o["targets"]:
                target_id(self.tokenizer, p["name"], t)
            encode_pair(self.tokenizer, p["name"], p["clean"], p["corrupted"], o["prepend_bos"])
        self.windows = sample_windows(windows, o["n_windows"], int(o["seed"]))

    def begin(self, model, windows, checkpoint) -> None:
        self.model, self.step = model, int(checkpoint["step"])

    def end(self, path) -> str:
        from lmdyn.core.internals import Internals

        o = self.options
        out = checkpoint_tables(
            self.step,
            Internals(self.model, self.vocab),
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
        )
        self.model = None
        for k in TABLES:
            out[k].to_parquet(path.with_name(f"{path.name}.{k}.parquet"), index=False)
        s = out["summary"].iloc[0]
        return f"{s.prompt} logit difference clean {s.logit_diff_clean:.3f}, corrupted {s.logit_diff_corrupted:.3f}"

    def abort(self) -> None:
        self.model = None
