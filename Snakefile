# lmdyn: how language models learn, per token, across training steps, sizes and seeds.
# Config is validated (with defaults) in rules/common.smk; the data stages, training and checkpoints
# each have a rules/*.smk, and so does every family (with its target rule: `snakemake probe`).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/corpus.smk"
include: "rules/tokens.smk"
include: "rules/pos.smk"
include: "rules/train.smk"
include: "rules/checkpoints.smk"
include: "rules/divergence.smk"
include: "rules/probe.smk"
include: "rules/anisotropy.smk"
include: "rules/geometry.smk"
include: "rules/neurons.smk"
include: "rules/timeline.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),


onerror:
    # Snakemake's own summary comes after this handler: the failed jobs' one-line errors are
    # printed again when the process exits, so they are the last lines on the screen.
    lmdyn_errors.report_at_exit(log, LMDYN_START)
