"""The result store: every per-checkpoint task result, kept across reruns.

An entry is a folder ``{root}/{task}/{key[:2]}/{key}/`` holding the task's files and ``meta.json``.
The key is the sha256 of (task, the checkpoint's weights hash, the task's options, the task's code
version, the hashes of the data files it reads): the same weights analysed the same way by the same
code are never computed twice, whichever run, step or rerun asks, and a changed option, code or input
file asks for a new entry instead of reusing a stale one.

Snakemake removes a job's declared outputs before it reruns it; the store is not among them, so the
results of the checkpoints a rerun did not change survive it. Entries are written into a temporary
folder and renamed into place, so a killed or disk-full job leaves no half-written entry; an entry
that cannot be read (meta.json unreadable, a file missing or of the wrong size) is dropped with a
warning and computed again.

Standard library only: rules/common.smk imports this module to build the task params.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

LIB = Path(__file__).resolve().parents[1]  # the lmdyn package


@dataclass(frozen=True)
class TaskSpec:
    """What a family's per-checkpoint task is, without its implementation (no torch import).

    ``needs``: ``forward`` (the loaded model run over the evaluation windows), ``model`` (the
    loaded model), ``weights`` (W_E and W_U only) or ``entry`` (another task's stored result, named
    by ``source``). ``code``: the library files (relative to the lmdyn package) whose content is the
    task's code version.
    """

    name: str
    needs: str
    code: tuple[str, ...]
    source: str | None = None

    def version(self) -> str:
        return code_version(self.code)


def code_files(names) -> list[str]:
    """Library files (relative to the package) of ``names``: files, or ``pkg/`` for every module
    of a package but its figures and table specs (which never change a task's result)."""
    out = set()
    for name in names:
        if name.endswith("/"):
            out |= {
                f"{name}{p.name}"
                for p in (LIB / name).glob("*.py")
                if p.name not in ("figures.py", "tables.py")
            }
        else:
            out.add(name)
    return sorted(out)


@functools.cache
def code_version(names: tuple[str, ...]) -> str:
    """sha256 over the library files' names and bytes (see :func:`code_files`); once per process
    (Snakemake asks for it in the params of every job)."""
    h = hashlib.sha256()
    for rel in code_files(names):
        h.update(rel.encode())
        h.update((LIB / rel).read_bytes())
    return h.hexdigest()


def file_hash(path) -> str:
    """sha256 of a file, or of a folder's files (names and bytes, in name order)."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def entry_key(task: str, weights: str, identity: dict) -> str:
    blob = json.dumps({"task": task, "weights": weights, **identity}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class Store:
    """Entries under ``root`` (default ``results/store``), see the module docstring."""

    def __init__(self, root="results/store", log=None):
        self.root, self.log = Path(root), log

    def path(self, task: str, key: str) -> Path:
        return self.root / task / key[:2] / key

    def get(self, task: str, key: str, parts=()) -> Path | None:
        """The entry's folder if it is complete and holds every file in ``parts``, else None."""
        folder = self.path(task, key)
        if not folder.exists():
            return None
        try:
            sizes = json.loads((folder / "meta.json").read_text())["files"]
            for name, size in sizes.items():
                if (folder / name).stat().st_size != size:
                    raise ValueError(
                        f"{name} has {(folder / name).stat().st_size} bytes, not {size}"
                    )
            missing = set(parts) - set(sizes)
            if missing:
                return None  # a complete entry without a part asked now: computed again, with it
        except (OSError, ValueError, KeyError, TypeError) as e:
            if self.log:
                self.log.warning("store entry %s unreadable (%s): computing it again", folder, e)
            shutil.rmtree(folder, ignore_errors=True)
            return None
        return folder

    def put(self, task: str, key: str, write, meta: dict) -> tuple[Path, str | None]:
        """Run ``write(folder)`` into a temporary folder, then move it into place as the entry.
        Returns the entry's folder and what ``write`` returned."""
        folder = self.path(task, key)
        tmp = folder.with_name(f".{key}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            note = write(tmp)
            files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}
            (tmp / "meta.json").write_text(
                json.dumps({**meta, "files": files}, indent=1, default=str)
            )
            if folder.exists():  # an entry without a part now asked for: replaced by the fuller one
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder, note


def link(src: Path, dst: Path) -> None:
    """``dst`` as a hard link to the stored file ``src`` (a relative symlink where hard links fail):
    a job's declared per-checkpoint outputs cost no copy, and removing them leaves the store intact.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        os.symlink(os.path.relpath(src, dst.parent), dst)
