"""Rule task_identity: the options and code versions of a family's tasks in a suite, as JSON."""

import json

from lmdyn.core.runner import run


def main(sm, log):
    with open(sm.output[0], "w") as f:
        json.dump(sm.params.tasks, f, indent=1, sort_keys=True)
    log.info("tasks: %s", sm.params.tasks)


run(main, snakemake)  # noqa: F821
