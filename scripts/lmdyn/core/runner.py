"""Entry point shared by the rule scripts: logging to the rule's log, thread count, one-line errors."""

from __future__ import annotations

import logging
import os
import sys
import traceback

# Jobs run side by side and write to one terminal: transformers' and the hub's progress bars
# (saving shards, downloads) would interleave there; each job's log has its own progress lines.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from lmdyn.core.errors import DISK_ERRORS, UserError, disk_message


def run(main, snakemake) -> None:
    """Call ``main(snakemake, log)``; send logging to ``snakemake.log[0]``.

    A ``UserError`` ends the job with its one-line message (on stderr and last in the log), and so
    does a write that fails for want of space or permission (path and free space); any other
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
        _fail(log, f"lmdyn error in rule {snakemake.rule}: {e}")
    except OSError as e:
        if e.errno not in DISK_ERRORS:
            _bug(log, snakemake.rule, e, log_path)
        out = snakemake.output[0] if len(snakemake.output) else "results"
        _fail(log, f"lmdyn error in rule {snakemake.rule}: {disk_message(e, out)}")
    except Exception as e:  # noqa: BLE001  (anything else is a bug: keep the traceback in the log)
        _bug(log, snakemake.rule, e, log_path)


def _fail(log, line: str) -> None:
    """End the job with ``line`` on stderr and last in its log (the workflow's onerror repeats it)."""
    logging.raiseExceptions = False  # a full disk may refuse the log line too: stderr still has it
    log.error("%s", line)
    sys.stderr.write(line + "\n")
    sys.exit(1)


def _bug(log, rule: str, e: Exception, log_path) -> None:
    log.error("%s", traceback.format_exc())
    _fail(log, f"lmdyn: rule {rule} failed: {type(e).__name__}: {e} (traceback in {log_path})")
