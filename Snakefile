# lmdyn: how language models learn, per token, across training steps, sizes and seeds.
# Config is validated (with defaults) in rules/common.smk; each stage lives in its own rules/*.smk.
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
include: "rules/metrics.smk"
include: "rules/aggregate.smk"
include: "rules/study.smk"
include: "rules/regression.smk"
include: "rules/figures.smk"
include: "rules/probe.smk"
include: "rules/anisotropy.smk"
include: "rules/geometry.smk"
include: "rules/neurons.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
