"""Rule divergence_run: per-token metrics and final hidden states of every checkpoint of one run."""

from pathlib import Path

from lmdyn.core.engine import job_engine
from lmdyn.core.runner import run
from lmdyn.core.store import link
from lmdyn.divergence.task import Metrics


def main(sm, log):
    p = sm.params
    tuning = {"vocab_chunk": p.vocab_chunk, "token_chunk": p.token_chunk}
    task = Metrics(p.task["options"], {k: sm.input[k] for k in ("tokens", "unigram")}, tuning)
    engine, refs = job_engine(sm, log, [task])
    status, entries = engine.run_all(refs)
    for step, found in entries.items():  # the store's files, linked where the rules read them
        link(found["metrics"] / "metrics.parquet", Path(sm.output.metrics) / f"step{step}.parquet")
        link(found["metrics"] / "hidden.npy", Path(sm.output.hidden) / f"step{step}.npy")
    Path(sm.output.metrics).mkdir(parents=True, exist_ok=True)
    Path(sm.output.hidden).mkdir(parents=True, exist_ok=True)
    log.info("%d checkpoints: %s", len(status), status.status.value_counts().to_dict())
    status.to_csv(sm.output.status, index=False)


run(main, snakemake)  # noqa: F821
