"""Rule fetch_run: resolve and hash the checkpoints of one run; list missing and duplicate steps."""

from lmdyn import registry
from lmdyn.errors import UserError
from lmdyn.runner import run


def main(sm, log):
    ckpts, paths, hashes, corrupt = [], {}, {}, {}
    plan = sm.params.plan
    for i, ref in enumerate(plan):
        c = registry.as_checkpoint(ref)
        ckpts.append(c)
        try:
            paths[c] = registry.resolve_ref(ref)
        except UserError as e:
            # A branch or directory that does not exist is listed and left out; anything else
            # (offline cache miss, gated repo) stops the run with its one-line message.
            if "does not exist" not in str(e) and "is missing" not in str(e):
                raise
            log.warning("%s", e)
            paths[c] = None
            continue
        why = registry.unreadable(paths[c])
        if why is not None:
            # listed as corrupt and left out like a missing one (lmdyn.registry.integrity_table)
            log.warning("checkpoint %s: %s", c.ref, why)
            corrupt[c] = why
        else:
            hashes[c] = registry.fast_hash(paths[c])
        if (i + 1) % 10 == 0 or i + 1 == len(plan):
            log.info("resolved and hashed %d/%d checkpoints", i + 1, len(plan))
    registry.integrity_table(ckpts, paths, hashes, corrupt).to_csv(sm.output[0], index=False)


run(main, snakemake)  # noqa: F821
