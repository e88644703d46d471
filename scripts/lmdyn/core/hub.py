"""Hub checkpoints: resolution from metadata, download into the Hugging Face cache, removal.

A checkpoint is resolved once per run (rule ``fetch_run``): its branch becomes a commit and the
weight files' sha256, from the hub's metadata (nothing is downloaded) or, offline, from the
cache (the snapshot's blob names or the cached file list). The run's checkpoint job then
downloads by commit (:func:`fetch`), checks every weight file against its sha256 and, unless
the suite keeps its weights, removes what it downloaded (:func:`evict`) once the checkpoint's
tasks are stored. A checkpoint that was in the cache before is never removed. Transient hub
answers (429, 5xx, a dropped connection) are retried with backoff, then reported in one line.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from lmdyn.core.errors import UserError
from lmdyn.core.registry import IGNORE, Checkpoint, offline

RETRIES = 4  # attempts of one hub call
BACKOFF_S = 2.0  # first wait; doubled after each attempt (2 + 4 + 8 s)


class Corrupt(UserError):
    """A downloaded weight file whose bytes do not match the sha256 the hub lists for it."""


@dataclass
class Resolution:
    """A checkpoint's commit and its files: name -> sha256 (LFS files), ``git:`` + the blob id
    (files kept in git) or None (unknown)."""

    commit: str
    files: dict[str, str | None]

    def weights(self) -> dict[str, str | None]:
        return {n: s for n, s in sorted(self.files.items()) if is_weight(n)}

    def weights_sha(self) -> str:
        """The hash lmdyn.core.integrity.fast_hash gives the snapshot of these files."""
        h = hashlib.sha256()
        for name, sha in self.weights().items():  # a git blob id as the snapshot's blob name
            h.update(f"{name}\0{(sha or '').removeprefix('git:')}\0".encode())
        return "blobs:" + h.hexdigest()


def is_weight(name: str) -> bool:
    """A top-level weight file, as lmdyn.core.integrity.weight_files picks them."""
    return (
        "/" not in name and name.endswith((".safetensors", ".bin")) and name != "training_args.bin"
    )


def wanted(name: str) -> bool:
    return not any(fnmatch.fnmatch(name, p) for p in IGNORE)


def endpoint() -> str | None:
    """HF_ENDPOINT as it is now (the client reads it once, at import)."""
    return os.environ.get("HF_ENDPOINT") or None


def cache_root(cache_dir: str | None) -> Path:
    from huggingface_hub import constants

    return Path(cache_dir or constants.HF_HUB_CACHE).expanduser()


def repo_folder(ckpt: Checkpoint, cache_dir: str | None) -> Path:
    return cache_root(cache_dir) / ("models--" + ckpt.repo.replace("/", "--"))


def _transient(e: BaseException) -> str | None:
    """What makes a hub failure worth retrying (an HTTP status or the error's name), or None."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    for err in (e, e.__cause__, e.__context__):
        if isinstance(err, HfHubHTTPError) and err.response is not None:
            code = err.response.status_code
            return f"HTTP {code}" if code == 429 or code >= 500 else None
        if isinstance(err, httpx2.TransportError):
            return type(err).__name__
    return None


def retried(call, ckpt: Checkpoint, what: str, log=None):
    """``call()`` with up to RETRIES attempts while the hub answers something transient; then
    one UserError line naming ``repo@revision``, the answer and the attempts."""
    waited = 0.0
    for attempt in range(RETRIES):
        try:
            return call()
        except Exception as e:  # noqa: BLE001 - only transient answers are retried
            why = _transient(e)
            if why is None:
                raise
            if attempt + 1 == RETRIES:
                raise UserError(
                    f"checkpoint {ckpt.ref}: {what} failed {RETRIES} times ({why}; retried with "
                    f"backoff for {waited:.0f}s); the hub is unavailable: run again later"
                ) from e
            wait = BACKOFF_S * 2**attempt
            if log:
                log.warning("checkpoint %s: %s: %s; retrying in %.0fs", ckpt.ref, what, why, wait)
            time.sleep(wait)
            waited += wait
    raise AssertionError("unreachable")


def _git(blob_id: str | None) -> str | None:
    """A file the hub keeps in git, not LFS: known by its git blob id (no sha256 to check)."""
    return f"git:{blob_id}" if blob_id else None


def resolve_remote(ckpt: Checkpoint, log=None) -> Resolution:
    """Commit and files of a hub checkpoint from the hub's metadata (one request, no download);
    UserError "does not exist" for a missing branch."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    def call():
        return HfApi(endpoint=endpoint()).model_info(
            ckpt.repo, revision=ckpt.revision, files_metadata=True
        )

    try:
        info = retried(call, ckpt, "revision info", log)
    except RevisionNotFoundError as e:
        raise UserError(f"checkpoint {ckpt.ref} does not exist: no such branch on the Hub") from e
    except RepositoryNotFoundError as e:
        raise UserError(
            f"checkpoint {ckpt.ref} is unavailable: repository not found, gated or private"
        ) from e
    files = {
        s.rfilename: s.lfs.sha256 if s.lfs is not None else _git(s.blob_id)
        for s in info.siblings or []
        if wanted(s.rfilename)
    }
    return Resolution(info.sha, files)


def resolve_cached(ckpt: Checkpoint, cache_dir: str | None) -> Resolution:
    """Commit and files of a hub checkpoint from the cache alone: the branch's ref, then the
    snapshot's symlinks (blobs are named by their sha256) or the file list the client cached."""
    folder = repo_folder(ckpt, cache_dir)
    ref, revision = folder / "refs" / str(ckpt.revision), str(ckpt.revision)
    if ref.is_file():
        commit = ref.read_text().strip()
    elif re.fullmatch(r"[0-9a-f]{40}", revision):  # a commit is its own snapshot (no ref)
        commit = revision
    else:
        raise UserError(f"checkpoint {ckpt.ref} is not in the Hugging Face cache (offline mode)")
    tree = folder / "trees" / f"{commit}.json"
    if tree.is_file():
        return _from_tree(commit, tree)
    snapshot = folder / "snapshots" / commit
    if not (snapshot / "config.json").exists():
        raise UserError(f"checkpoint {ckpt.ref} is not in the Hugging Face cache (offline mode)")
    files = {}
    for f in sorted(snapshot.rglob("*")):
        if f.is_file() and wanted(name := f.relative_to(snapshot).as_posix()):
            files[name] = _cached_sha(f) if is_weight(name) else None
    return Resolution(commit, files)


def _cached_sha(f: Path) -> str:
    """A cached file's sha256: its blob's name, or its bytes hashed where it is no link (a cache
    laid out by hand)."""
    if f.is_symlink():
        blob = _target(f)
        return blob if len(blob) == 64 else _git(blob)
    h = hashlib.sha256()
    with open(f, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _from_tree(commit: str, tree: Path) -> Resolution:
    """A commit's files from the listing the client keeps in the cache (``trees/{commit}.json``)."""
    listed = json.loads(tree.read_text())["files"]
    files = {
        n: e.get("lfs_sha256") or _git(e.get("blob_id")) for n, e in listed.items() if wanted(n)
    }
    return Resolution(commit, files)


def branch_commits(repo: str, log=None) -> dict[str, str]:
    """branch -> commit of a hub repository from one listing of its refs; {} where the listing
    fails (each checkpoint is then asked on its own, and that answer says what is wrong)."""
    from huggingface_hub import HfApi

    try:
        refs = HfApi(endpoint=endpoint()).list_repo_refs(repo)
    except Exception as e:  # noqa: BLE001 - a shortcut only: resolve_remote reports failures
        if log:
            log.info("%s: no branch list (%s): each checkpoint asked on its own", repo, e)
        return {}
    return {b.name: b.target_commit for b in refs.branches}


def resolve(
    ckpt: Checkpoint, cache_dir: str | None, log=None, branches: dict | None = None
) -> Resolution:
    """:func:`resolve_cached` offline. Online, with ``branches`` (repo -> {branch: commit},
    filled by one :func:`branch_commits` per repository): where the commit a branch points at now
    is one the client has listed in the cache before, that listing (a commit's files never
    change), so a rerun asks the hub once per repository, not once per checkpoint; else
    :func:`resolve_remote`."""
    if offline():
        return resolve_cached(ckpt, cache_dir)
    if branches is not None:
        if ckpt.repo not in branches:
            branches[ckpt.repo] = branch_commits(ckpt.repo, log)
        commit = branches[ckpt.repo].get(str(ckpt.revision))
        tree = repo_folder(ckpt, cache_dir) / "trees" / f"{commit}.json"
        if commit and tree.is_file():
            try:
                return _from_tree(commit, tree)
            except (ValueError, KeyError, AttributeError):  # a listing cut short: ask the hub
                pass
    return resolve_remote(ckpt, log)


@dataclass
class Download:
    """A snapshot one fetch downloaded, and the blobs its repo folder held before the job's first
    download there (never removed)."""

    folder: Path
    commit: str
    ledger: Path
    before: frozenset = frozenset()


def _blobs(folder: Path) -> set[str]:
    d = folder / "blobs"
    return {f.name for f in d.iterdir()} if d.is_dir() else set()


def _present(folder: Path, res: Resolution) -> bool:
    """Every weight file of the checkpoint is in the cache (its snapshot links a whole blob)."""
    snap = folder / "snapshots" / res.commit
    return (snap / "config.json").exists() and all(
        (snap / n).exists()
        and (
            not (snap / n).is_symlink()
            or sha is None
            or _target(snap / n) == sha.removeprefix("git:")
        )
        for n, sha in res.weights().items()
    )


class Downloads:
    """The downloads of one job: fetches and removals in one repository's cache folder take
    turns (a lock file beside the client's own, so jobs sharing a cache take turns too), so a
    removal never takes a blob that a fetch in progress counts on. ``ledgers``: where each
    download is noted before its first byte, so that a killed job's download is still known as
    the workflow's on a rerun."""

    def __init__(self, cache_dir: str | None, ledgers, log=None):
        self.cache_dir, self.ledgers, self.log = cache_dir, Path(ledgers), log
        self.before: dict[Path, frozenset] = {}

    def lock(self, folder: Path):
        from filelock import FileLock  # the client's own dependency

        locks = folder.parent / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        return FileLock(str(locks / f"lmdyn-{folder.name}.lock"))

    def fetch(self, ckpt: Checkpoint, res: Resolution) -> tuple[Path, Download | None]:
        """The checkpoint's snapshot folder, downloaded by commit where its weights are not
        cached (then with the record :meth:`evict` takes); every downloaded weight file is checked
        against its sha256 (:class:`Corrupt` otherwise, the download removed)."""
        folder = repo_folder(ckpt, self.cache_dir)
        snap = folder / "snapshots" / res.commit
        ledger = self.ledgers / folder.name / f"{res.commit}.json"
        with self.lock(folder):
            if _present(folder, res) and not ledger.exists():
                return snap, None  # the user's own (or a kept) copy: never removed
            if offline():
                raise UserError(
                    f"checkpoint {ckpt.ref} is not in the Hugging Face cache (offline mode)"
                )
            if folder not in self.before:
                self.before[folder] = frozenset(_blobs(folder))
            ledger.parent.mkdir(parents=True, exist_ok=True)
            if not ledger.exists():
                ledger.write_text(
                    json.dumps({"ref": ckpt.ref, "blobs": sorted(self.before[folder])})
                )
            dl = Download(
                folder, res.commit, ledger, frozenset(json.loads(ledger.read_text())["blobs"])
            )
            try:
                _download(ckpt, res, self.cache_dir, self.log)
                _verify(ckpt, snap, res)
            except UserError:  # a failed or corrupt download leaves nothing behind
                _evict(dl)
                raise
            # the branch, for offline runs (no newline, as the client writes it)
            ref = folder / "refs" / str(ckpt.revision)
            ref.parent.mkdir(parents=True, exist_ok=True)
            ref.write_text(res.commit)
        return snap, dl

    def evict(self, dl: Download) -> int:
        """Remove a download (see :func:`_evict`); bytes freed."""
        with self.lock(dl.folder):
            return _evict(dl)


def _download(ckpt: Checkpoint, res: Resolution, cache_dir: str | None, log) -> None:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import EntryNotFoundError

    def call():
        return snapshot_download(
            ckpt.repo,
            revision=res.commit,  # resolved once by fetch_run: no second resolution
            cache_dir=cache_dir,
            ignore_patterns=IGNORE,
            endpoint=endpoint(),
        )

    try:
        retried(call, ckpt, "download", log)
    except UserError:
        raise
    except (OSError, EntryNotFoundError) as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise UserError(
            f"checkpoint {ckpt.ref} could not be downloaded ({type(e).__name__}: {first})"
        ) from e


def _verify(ckpt: Checkpoint, snap: Path, res: Resolution) -> None:
    for name, sha in res.weights().items():
        if sha is None or sha.startswith("git:"):
            continue
        h = hashlib.sha256()
        with open(snap / name, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        if h.hexdigest() != sha:
            raise Corrupt(
                f"checkpoint {ckpt.ref} is corrupt: the downloaded {name} does not match its "
                f"sha256 {sha[:12]}... (removed from the cache; a rerun downloads it again)"
            )


def _evict(dl: Download) -> int:
    """Remove the blobs a download's snapshot links that were not in the cache before the job
    and that no other snapshot links, and the snapshot's links to them (the snapshot folder where
    that empties it). Refs and file lists stay (tiny: they let an offline rerun resolve)."""
    snaps, mine = dl.folder / "snapshots", dl.folder / "snapshots" / dl.commit
    linked = set()
    for other in snaps.iterdir() if snaps.is_dir() else []:
        if other.name != dl.commit:
            linked |= {_target(f) for f in other.rglob("*") if f.is_symlink()}
    links = [f for f in mine.rglob("*") if f.is_symlink()] if mine.is_dir() else []
    gone = {_target(f) for f in links} - linked - dl.before
    freed = 0
    for f in links:
        if _target(f) in gone:
            f.unlink()
    for b in sorted(gone):
        p = dl.folder / "blobs" / b
        if p.exists():
            freed += p.stat().st_size
            p.unlink()
    for d in sorted(mine.rglob("*"), reverse=True) if mine.is_dir() else []:
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    if mine.is_dir() and not any(mine.iterdir()):
        mine.rmdir()
    dl.ledger.unlink(missing_ok=True)
    return freed


def _target(link: Path) -> str:
    return Path(os.path.realpath(link)).name


def cache_bytes(cache_dir: str | None) -> int:
    """Bytes of the blobs in a hub cache (what the downloads hold on disk)."""
    root = cache_root(cache_dir)
    return sum(f.stat().st_size for f in root.glob("models--*/blobs/*") if f.is_file())
