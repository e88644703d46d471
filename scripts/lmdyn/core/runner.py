"""Entry point shared by the rule scripts: logging to the rule's log, thread count, one-line errors."""

from __future__ import annotations

import logging
import os
import sys
import traceback

# Jobs run side by side and write to one terminal: transformers' and the hub's progress bars
# (saving shards, downloads) would interleave there; each job's log has its own progress lines.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from lmdyn.core.errors import UserError


def run(main, snakemake) -> None:
    """Call ``main(snakemake, log)``; send logging to ``snakemake.log[0]``.

    A ``UserError`` ends the job with its one-line message (on stderr and in the log); any other
    exception keeps its traceback in the log file and prints one line pointing there.
    """
    log = logging.getLogger(f"lmdyn.{snakemake.rule}")
    log.setLevel(logging.INFO)
    log_path = snakemake.log[0] if len(snakemake.log) else None
    handler = (
        logging.FileHandler(log_path, mode="w") if log_path else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(max(1, int(snakemake.threads)))
    try:
        main(snakemake, log)
    except UserError as e:
        log.error("%s", e)
        sys.stderr.write(f"lmdyn error in rule {snakemake.rule}: {e}\n")
        sys.exit(1)
    except Exception as e:  # noqa: BLE001  (anything else is a bug: keep the traceback in the log)
        log.error("%s", traceback.format_exc())
        sys.stderr.write(
            f"lmdyn: rule {snakemake.rule} failed: {type(e).__name__}: {e} (traceback in {log_path})\n"
        )
        sys.exit(1)
