"""A notebook's first cells: three tables of a finished run, then the unigram probe and the logit
lens on one checkpoint, computed from Python with the workflow's own code.

From the repository root, after the default workflow (``snakemake --cores 2``)::

    python docs/examples/notebook.py
    python docs/examples/notebook.py --results results --checkpoint path/to/checkpoint
"""

import argparse

import lmdyn
from lmdyn import analyses

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--results", default="results", help="the workflow's results folder")
parser.add_argument("--suite", help="suite to look at (default: the first in the probe table)")
parser.add_argument(
    "--checkpoint",
    help="checkpoint directory or hub repository (default: the "
    "last step of the suite's first run, under results/checkpoints/)",
)
parser.add_argument("--prompt", default="the people of the United")  # config neurons.prompts
parser.add_argument("--targets", nargs=2, default=[" States", " of"])
args = parser.parse_args()

# -- three tables: every suite's rows, typed as declared (lmdyn.tables("probe") lists the columns)
probe = lmdyn.load("probe", args.results)
suite = args.suite or probe.suite.iloc[0]
integrity = lmdyn.load("integrity", args.results, suite=suite, status="ok")
anisotropy = lmdyn.load("anisotropy", args.results, suite=suite, matrix="W_E", variant="raw")
print(f"suite {suite}: {len(integrity)} sound checkpoints")
curves = probe[probe.suite == suite].merge(anisotropy, on=["suite", "model", "seed", "step"])
last_steps = curves.groupby(["model", "seed"]).tail(1)  # rows are in key order: the last step
print(last_steps[["model", "seed", "step", "kl_u_probe", "mean_cos"]].to_string(index=False))

# -- one checkpoint: the last step of the first run
last = curves[(curves.model == curves.model.iloc[0]) & (curves.seed == curves.seed.iloc[0])].iloc[
    -1
]
model, seed, step = last.model, int(last.seed), int(last.step)
checkpoint = args.checkpoint or f"{args.results}/checkpoints/{suite}/{model}/seed{seed}/step{step}"
ix = lmdyn.Internals.from_pretrained(checkpoint)
print(
    f"{checkpoint}: {ix.arch}, {ix.n_layers} layers, d_model {ix.d_model}, {ix.vocab_size} tokens"
)

# -- the unigram probe against the suite's unigram table: the workflow's number, recomputed
unigram = lmdyn.load("unigram", args.results, suite=suite)
fit = analyses.probe(ix, unigram)["probe"].iloc[0]
print(f"KL(u || probe) table {last.kl_u_probe:.6f}, computed {fit.kl_u_probe:.6f}")

# -- the logit lens of a prompt: logit(a) - logit(b) after the embedding and every block
lens = analyses.logit_lens(ix, args.prompt, args.targets, modes="per_layer")
print(f"logit lens of {args.prompt!r}, {args.targets[0]!r} - {args.targets[1]!r}:")
print(lens.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
