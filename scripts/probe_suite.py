"""Rule probe_suite: suite tables (parquet + CSV) of the unigram latent probe."""

from lmdyn.core.runner import run
from lmdyn.core.tables import concat, write
from lmdyn.probe import tables as specs


def main(sm, log):
    steps = sm.params.steps  # steps analysed for every seed
    probe = concat(specs.PROBE, sm.input.probe, steps)
    deciles = concat(specs.DECILES, sm.input.probe_deciles, steps)
    tokens = concat(specs.TOKENS, sm.input.probe_tokens, steps)
    if not probe.empty and not probe.converged.all():
        log.warning(
            "probe stopped at max_iter before its stopping rule for %d checkpoints",
            (~probe.converged).sum(),
        )
    write(specs.PROBE, probe, sm.output.table, sm.output.csv)
    write(specs.DECILES, deciles, sm.output.deciles, sm.output.deciles_csv)
    write(specs.TOKENS, tokens, sm.output.tokens)
    log.info("%d checkpoints", len(probe))


run(main, snakemake)  # noqa: F821
