"""Rule integrity: resolve and hash every planned checkpoint; list missing and duplicate ones."""

from lmdyn import registry
from lmdyn.errors import UserError
from lmdyn.runner import run


def main(sm, log):
    ckpts, paths, hashes = [], {}, {}
    for i, ref in enumerate(sm.params.plan):
        c = registry.as_checkpoint(ref)
        ckpts.append(c)
        try:
            paths[c] = registry.resolve(c, ref.get("cache_dir"))
        except UserError as e:
            # A branch or directory that does not exist is listed and left out; anything else
            # (offline cache miss, gated repo) stops the run with its one-line message.
            if "does not exist" in str(e) or "is missing" in str(e):
                log.warning("%s", e)
                paths[c] = None
                continue
            raise
        hashes[c] = registry.fast_hash(paths[c])
        if (i + 1) % 50 == 0 or i + 1 == len(sm.params.plan):
            log.info("resolved and hashed %d/%d checkpoints", i + 1, len(sm.params.plan))
    table = registry.integrity_table(ckpts, paths, hashes)
    for r in table[table.status != "ok"].itertuples():
        extra = f" (same weights as step {r.duplicate_of})" if r.status == "duplicate" else ""
        log.warning("left out: %s %s seed %d step %d is %s%s", r.suite, r.model, r.seed, r.step, r.status, extra)
    log.info("%d checkpoints: %s", len(table), table.status.value_counts().to_dict())
    table.to_csv(sm.output.table, index=False)


run(main, snakemake)  # noqa: F821
