"""The per-checkpoint engine: runs the tasks of one family over every checkpoint of a run.

A job (one run, one family) hands the engine its checkpoints and tasks. For each checkpoint the
engine looks every task up in the result store (lmdyn.core.store) and loads the checkpoint only if
a task is missing, at most once: the model where a task needs it (the ``forward`` tasks share one
pass over the evaluation windows, through forward hooks), W_E and W_U only where the missing tasks
need no more, nothing where the missing tasks read other entries. The next checkpoints download
and load on a thread while the current one computes (lmdyn.core.loader), and a checkpoint the job
downloaded is removed again once its tasks are stored. A checkpoint that cannot be downloaded,
loaded or analysed (a UserError: missing, corrupt, non-finite, wrong vocabulary) is recorded as
``failed`` (``corrupt`` where downloaded bytes do not match their
sha256) in the status table and skipped; the rest of the run is kept.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from lmdyn.core import registry
from lmdyn.core.checks import checkpoint_label
from lmdyn.core.errors import UserError
from lmdyn.core.forward import batches
from lmdyn.core.hub import Corrupt
from lmdyn.core.integrity import weights_hash
from lmdyn.core.loader import Loaded, Loader
from lmdyn.core.store import Store, TaskSpec, entry_key, file_hash
from lmdyn.core.tasks import weights_of

STATUS_COLUMNS = ["suite", "model", "seed", "step", "status", "error"]


class Task:
    """One family's analysis of one checkpoint. Subclasses set ``spec`` and ``files`` and write
    their files into the folder ``end`` gets.

    ``options`` define the result (they are part of the store key); ``inputs`` are the data files
    the task reads (their hashes are part of the key); ``tuning`` holds settings that change speed
    or memory only (chunk sizes), never the key. Per job the engine calls ``setup(run)``; per
    checkpoint it calls ``begin(ckpt)``, then for ``forward`` tasks ``wants(indices)``,
    ``batch(indices)`` and ``hidden(indices, h)`` around every batch of the pass over the
    evaluation windows, ``release()`` for every task (remove hooks here) before any ``end``, and
    ``end(folder, ckpt)``, which writes the files and may return a line for the log; ``abort()``
    instead if the checkpoint fails.
    """

    spec: TaskSpec
    files: tuple[str, ...] = ()
    critical = False  # True: its failure fails the checkpoint for every task (and the run status)

    def __init__(self, options: dict | None = None, inputs: dict | None = None, tuning=None):
        self.options = dict(options or {})
        self.inputs = {k: v for k, v in (inputs or {}).items() if v}
        self.tuning = dict(tuning or {})  # "threads": torch threads while it computes
        self._identity = None

    @property
    def name(self) -> str:
        return self.spec.name

    def identity(self) -> dict:
        """What the result depends on besides the weights: options, code, input files."""
        if self._identity is None:
            self._identity = {
                "options": self.options,
                "code": self.spec.version(),
                "inputs": {k: file_hash(v) for k, v in sorted(self.inputs.items())},
            }
        return self._identity

    def parts(self, step: int) -> tuple[str, ...]:
        """The files the entry of this step must hold."""
        return self.files

    def setup(self, run: Run) -> None:
        pass

    def prepare(self, refs: list[dict]) -> None:
        """Once the job knows its checkpoints (e.g. which steps get per-token detail)."""

    def begin(self, ckpt: Loaded) -> None:
        pass

    def wants(self, indices) -> bool:
        return True

    def batch(self, indices) -> None:
        pass

    def hidden(self, indices, h: torch.Tensor) -> None:
        pass

    def release(self) -> None:
        pass

    def end(self, folder: Path, ckpt: Loaded) -> str | None:
        raise NotImplementedError

    def abort(self) -> None:
        pass

    def run_tables(self, entries: dict, refs: list[dict]) -> dict:
        """The run's tables assembled from the entries of every step (output name -> frame)."""
        return {}


@dataclass
class Run:
    """What every task of a job shares: the evaluation windows, their documents, the vocabulary."""

    windows: list = field(default_factory=list)
    docs: np.ndarray | None = None
    vocab: int = 0
    device: torch.device | str = "cpu"
    dtype: str = "float32"
    batch_size: int = 16
    log: object = None
    prefetch: int = 1  # checkpoints loading ahead while one computes
    loader: Loader | None = None  # downloads and loads (default: no hub plan, weights kept)


def _load(ref: dict, run: Run, model: bool, weights: bool) -> Loaded:
    """One checkpoint downloaded and loaded by the run's loader, on the loading thread."""
    return run.loader.load(ref, model, weights)


@torch.no_grad()
def forward_pass(model, run: Run, tasks: list[Task]) -> None:
    """One pass of the model body over the windows the ``forward`` tasks want (batches of equal
    length, as :func:`lmdyn.core.forward.final_hidden_states` makes them)."""
    body = model.base_model
    for batch in batches(run.windows, run.batch_size):
        if not any(t.wants(batch) for t in tasks):
            continue
        for t in tasks:
            t.batch(batch)
        ids = torch.from_numpy(np.stack([run.windows[j] for j in batch])).to(run.device)
        h = body(input_ids=ids).last_hidden_state.float()[:, :-1].cpu()
        for t in tasks:
            t.hidden(batch, h)


class Engine:
    """Runs ``tasks`` (sources before the tasks that read them) over checkpoints, with ``store``."""

    def __init__(self, tasks: list[Task], run: Run, store: Store, weights: dict | None = None):
        self.tasks, self.run, self.store = tasks, run, store
        # (model, seed, step) -> weights hash: the integrity table's sha256 (None: hash the files)
        self.weights = weights
        self.log = run.log
        if run.loader is None:
            run.loader = Loader(run)
        for t in tasks:
            t.setup(run)

    def keys(self, ref: dict) -> dict:
        if self.weights is None:
            sha = weights_hash(registry.resolve_ref(ref))
        else:
            sha = self.weights.get((str(ref["model"]), int(ref["seed"]), int(ref["step"])))
        if not sha:
            raise UserError(f"{checkpoint_label(ref)} has no weights hash in its integrity table")
        keys: dict = {}
        for t in self.tasks:  # sources first: a task reading another's entry keys on that entry
            identity = {**t.identity(), "vocab": self.run.vocab}  # every task slices to it
            if t.spec.source:
                identity = {**identity, "source": keys[t.spec.source]}
            keys[t.name] = entry_key(t.name, str(sha), identity)
        return keys

    def lookup(self, ref: dict) -> tuple[dict, dict, list[Task]]:
        keys = self.keys(ref)
        found = {
            t.name: self.store.get(t.name, keys[t.name], t.parts(int(ref["step"])))
            for t in self.tasks
        }
        return keys, found, [t for t in self.tasks if found[t.name] is None]

    def needs(self, missing: list[Task]) -> tuple[bool, bool]:
        kinds = {t.spec.needs for t in missing}
        return bool(kinds & {"forward", "model"}), "weights" in kinds

    def run_all(self, refs: list[dict]) -> tuple[pd.DataFrame, dict]:
        """Status table (one row per checkpoint) and the entries: {step: {task: folder}}."""
        plan = [self.lookup(r) for r in refs]
        todo = [i for i, (_, _, missing) in enumerate(plan) if missing]
        position = {k: j for j, k in enumerate(todo)}
        if self.log:
            self.log.info(
                "%d checkpoints, %d with tasks to compute (%s), %d entirely from the store",
                len(refs),
                len(todo),
                ", ".join(t.name for t in self.tasks),
                len(refs) - len(todo),
            )
        rows, entries = [], {}
        ahead = self.run.prefetch
        # one loading thread: downloads, loads and removals in the order handed over, so a
        # removal always comes before the downloads after it (disk holds ahead + 1 checkpoints)
        with ThreadPoolExecutor(max_workers=1) as pool:
            futures = {}

            def submit(j):
                if j < len(todo) and todo[j] not in futures:
                    k = todo[j]
                    futures[k] = pool.submit(_load, refs[k], self.run, *self.needs(plan[k][2]))

            for j in range(ahead):
                submit(j)
            for i, ref in enumerate(refs):
                keys, found, missing = plan[i]
                c = registry.as_checkpoint(ref)
                if missing:
                    submit(position[i] + ahead)
                    future = futures.pop(i)
                    status, err = self.compute(ref, keys, found, missing, future)
                    pool.submit(self.run.loader.release, future.result())
                else:
                    status, err = "ok", ""
                rows.append((c.suite, c.model, c.seed, c.step, status, err))
                if status == "ok":
                    entries[c.step] = found
        status = pd.DataFrame(rows, columns=STATUS_COLUMNS)
        if len(status) and not (status.status == "ok").any():
            first = status.iloc[0]
            raise UserError(
                f"no checkpoint of suite {first.suite} model {first.model} seed {first.seed} "
                f"could be analysed; the first failure: {first.error}"
            )
        return status, entries

    def compute(self, ref, keys, found, missing, future) -> tuple[str, str]:
        """Compute the missing tasks of one checkpoint; ``found`` gains their entries. Returns the
        status (``ok``; ``corrupt``: downloaded bytes that do not match their sha256; ``failed``)
        and the error. A load or forward pass that fails, or a critical task's failure, fails the
        checkpoint; another task's failure only leaves that task's entry out (its family's tables
        lack the step)."""
        step, t0 = int(ref["step"]), time.perf_counter()
        begun: list[Task] = []
        try:
            ckpt = future.result()
            wait_s = time.perf_counter() - t0
            if ckpt.error is not None:
                raise ckpt.error
            ckpt.entries = found
            self._run_model(ckpt, missing, begun)
            notes = [n for t in missing if (n := self._finish(t, ckpt, keys, found))]
        except UserError as e:
            for t in begun:
                t.abort()
            if self.log:
                self.log.warning("step %d skipped: %s", step, e)
            return ("corrupt" if isinstance(e, Corrupt) else "failed"), str(e)
        if self.log:
            self.log.info(
                "step %d: computed %s (download %.2fs, load %.2fs, waited %.2fs, compute %.2fs)%s",
                step,
                ", ".join(t.name for t in missing if found.get(t.name)),
                ckpt.download_s,
                ckpt.load_s,
                wait_s,
                time.perf_counter() - t0 - wait_s,
                "".join(f"; {n}" for n in notes),
            )
        return "ok", ""

    def _run_model(self, ckpt: Loaded, missing: list[Task], begun: list[Task]) -> None:
        """``begin`` every task that reads the loaded model, one forward pass for those that read
        the evaluation windows, then every hook off before any task runs the model again."""
        loaded = [t for t in missing if t.spec.needs in ("forward", "model")]
        for t in loaded:
            t.begin(ckpt)
            begun.append(t)
        forward = [t for t in loaded if t.spec.needs == "forward"]
        if forward:
            _threads(max(t.tuning.get("threads", 1) for t in forward))
            forward_pass(ckpt.model, self.run, forward)
        for t in begun:
            t.release()

    def _finish(self, t: Task, ckpt: Loaded, keys: dict, found: dict) -> str | None:
        """Write task ``t``'s entry; a failure of a task that is not critical is logged and leaves
        its entry out."""
        if t.spec.source and found.get(t.spec.source) is None:
            found[t.name] = None  # its source failed at this checkpoint
            return None
        _threads(t.tuning.get("threads", 1))
        meta = {"task": t.name, "checkpoint": ckpt.label, "step": ckpt.step, **t.identity()}
        try:
            found[t.name], note = self.store.put(
                t.name, keys[t.name], lambda folder: t.end(folder, ckpt), meta
            )
        except UserError as e:
            if t.critical:
                raise
            found[t.name] = None
            if self.log:
                self.log.warning("step %d: task %s left out: %s", ckpt.step, t.name, e)
            return None
        return note


def _threads(n: int) -> None:
    # each task computes with its own thread count (float64 fits, for one, are not bit-identical
    # across thread counts), whatever the others use
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def weights_hashes(integrity_csv) -> dict:
    """(model, seed, step) -> sha256 of a run's (or a suite's) integrity table."""
    return weights_of(str(integrity_csv))


def run_table(
    entries: dict, refs: list[dict], task: str, name: str, keys=("suite", "model", "seed", "step")
) -> pd.DataFrame:
    """One table from ``{name}.parquet`` of the task's entry at every step of ``refs`` (plan order)
    that has one, with the checkpoint's ``keys`` columns first. The parts are joined as Arrow
    tables and converted once (a frame per part costs milliseconds: seconds per run)."""
    parts, labels = [], []
    for ref in refs:
        folder = entries.get(int(ref["step"]), {}).get(task)
        if folder is not None:
            parts.append(pq.ParquetFile(Path(folder) / f"{name}.parquet").read())
            labels.append(ref)
    if not parts:
        return pd.DataFrame()
    df = pa.concat_tables(parts, promote_options="permissive").to_pandas()
    df.index = pd.RangeIndex(len(df))
    n = np.asarray([p.num_rows for p in parts])
    values = {
        "suite": np.repeat(np.asarray([r["suite"] for r in labels], dtype=object), n),
        "model": np.repeat(np.asarray([str(r["model"]) for r in labels], dtype=object), n),
        "seed": np.repeat(np.asarray([int(r["seed"]) for r in labels], dtype=np.int64), n),
        "step": np.repeat(np.asarray([int(r["step"]) for r in labels], dtype=np.int64), n),
    }
    rest = df[[c for c in df.columns if c not in keys]]
    return pd.concat([pd.DataFrame({k: values[k] for k in keys}), rest], axis=1)


def job_engine(sm, log, tasks: list[Task]) -> tuple[Engine, list[dict]]:
    """The engine of a family's run job and the run's sound checkpoints, from the rule's inputs
    (``integrity``: the run's own table; ``tokens``, ``unigram``) and params (``checkpoints``;
    ``device``, ``dtype``, ``batch_size`` where the tasks load the model)."""
    from lmdyn.core.checkpoints import pick_device
    from lmdyn.core.forward import windows_of
    from lmdyn.core.workflow import sound_refs

    p = sm.params
    refs = sound_refs(sm.input.integrity, p.checkpoints)  # the run's own integrity table
    log.info("%d of %d planned checkpoints are sound", len(refs), len(p.checkpoints))
    run = Run(vocab=len(pd.read_parquet(sm.input.unigram, columns=["token_id"])), log=log)
    if "tokens" in sm.input.keys():
        tokens = pd.read_parquet(sm.input.tokens)
        run.windows = windows_of(tokens)
        keys = tokens.groupby(["doc_id", "window"], sort=False).size().index
        run.docs = np.asarray([k[0] for k in keys])
    if "device" in p.keys():
        run.device, run.dtype, run.batch_size = pick_device(p.device), p.dtype, p.batch_size
    if "prefetch" in p.keys():
        run.prefetch = p.prefetch
    hub = sm.input.get("hub")
    resolved = json.loads(Path(hub).read_text()) if hub else None
    run.loader = Loader(run, resolved, keep_weights=p.get("keep_weights", True))
    return Engine(tasks, run, Store(log=log), weights_hashes(sm.input.integrity)), refs
