"""Rule probe_suite: suite tables (parquet + CSV) of the unigram latent probe."""

from lmdyn.core.runner import run
from lmdyn.core.workflow import concat_runs


def main(sm, log):
    probe, deciles, tokens = (
        concat_runs(sm.input[k], sm.params.steps)
        for k in ("probe", "probe_deciles", "probe_tokens")
    )
    if not probe.empty and not probe.converged.all():
        log.warning(
            "probe stopped at max_iter before its stopping rule for %d checkpoints",
            (~probe.converged).sum(),
        )
    probe.to_parquet(sm.output.table, index=False)
    probe.to_csv(sm.output.csv, index=False)
    deciles.to_parquet(sm.output.deciles, index=False)
    deciles.to_csv(sm.output.deciles_csv, index=False)
    tokens.to_parquet(sm.output.tokens, index=False)
    log.info("%d checkpoints", len(probe))


run(main, snakemake)  # noqa: F821
