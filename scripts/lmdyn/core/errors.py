"""User-facing errors: one line that names the problem, no traceback; the lines of failed jobs."""

from __future__ import annotations

import errno
import re
from pathlib import Path

# The start of every line a rule script ends a failed job with (lmdyn.core.runner): on stderr, and
# last in the job's log, where the workflow's error handler finds it again.
MARK = "lmdyn"
# Errors of the file system a job writes to, which say nothing of where or why in the traceback.
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


class UserError(Exception):
    """Bad input (config, corpus, model, revision). Rule scripts print only its message."""


def warn(log, message: str) -> None:
    """A warning a user should see: on the console (stderr) and in the job's log."""
    import sys

    if log is not None:
        log.warning("%s", message)
    sys.stderr.write(f"{MARK} warning: {message}\n")


def disk_message(e: OSError, fallback: str | Path) -> str:
    """One line for a write that failed for want of space or permission: the path, the free space
    of its file system and what to do."""
    import shutil

    path = Path(e.filename or fallback).absolute()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / 1e6
    fix = (
        "fix its permissions or run in another folder (snakemake --directory DIR)"
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
        else "free some space there (or run in another folder, snakemake --directory DIR) and rerun"
    )
    return f"cannot write {path}: {e.strerror} ({free:.0f} MB free there); {fix}"


def failed_job_logs(snakemake_logs) -> list[str]:
    """The log files of the jobs that failed, from Snakemake's log(s) of the run (a path or a list
    of them; "Error in rule" blocks, their "log:" line)."""
    paths = [snakemake_logs] if isinstance(snakemake_logs, str | Path) else snakemake_logs or []
    text = ""
    for p in paths:
        try:
            text += Path(p).read_text(errors="replace")
        except OSError:
            continue
    out = []
    for block in re.split(r"^Error in rule ", text, flags=re.M)[1:]:
        m = re.search(r"^\s+log: (.+?)(?: \(check log file.*)?$", block, flags=re.M)
        if m:
            out += [p.strip() for p in m.group(1).split(",") if p.strip()]
    return list(dict.fromkeys(out))


def recent_logs(folder: str | Path, since: float) -> list[str]:
    """Log files under ``folder`` written since ``since`` (a job's log is rewritten when it starts),
    oldest first: the jobs of this run, where Snakemake's own log is not yet flushed."""
    found = []
    for p in Path(folder).rglob("*.log") if Path(folder).is_dir() else []:
        try:
            t = p.stat().st_mtime
        except OSError:
            continue
        if t >= since:
            found.append((t, str(p)))
    return [p for _, p in sorted(found)]


def failure_lines(logs) -> list[str]:
    """The last one-line error (starting with :data:`MARK`) of each job log, in order, once each."""
    lines = []
    for log in logs:
        try:
            with open(log, "rb") as f:  # the tail: a long job's log is large
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 16384))
                tail = f.read().decode(errors="replace").splitlines()
        except OSError:
            continue
        found = [m.group(1) for ln in tail if (m := re.search(rf" ERROR ({MARK}[ :].*)$", ln))]
        if found:
            lines.append(found[-1])
    return list(dict.fromkeys(lines))


def report_at_exit(snakemake_logs, since: float, folder: str = "logs") -> list[str]:
    """The workflow's onerror: the failed jobs' one-line errors, printed again when the process
    exits, after Snakemake's own "did not complete" summary (which follows the handler)."""
    import atexit
    import sys

    logs = failed_job_logs(snakemake_logs) + recent_logs(folder, since - 1)
    lines = failure_lines(dict.fromkeys(logs))
    if lines:
        text = "".join(f"{ln}\n" for ln in lines)
        atexit.register(lambda: sys.stderr.write(f"\n{MARK}: the failed jobs said\n{text}"))
    return lines
