"""Per-run jobs of the weight-only analyses: every analysed step of one run (model x seed) in one
process, each checkpoint's weights read once, and each checkpoint's results kept so a rerun (a step
added, a figure changed) recomputes only what is new.

The per-checkpoint results live beside the run's table, in ``{cache}/step{N}.{name}.parquet`` with a
``step{N}.json`` key: the checkpoint's weight hash (from the integrity table) and the analysis
parameters. Snakemake does not track these files (declared outputs are deleted before a job runs,
which would throw the results away); the key makes a stale file impossible to reuse.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from lmdyn.core import registry


def cache_key(sha256: str, params: dict) -> str:
    return hashlib.sha256(
        json.dumps({"weights": sha256, **params}, sort_keys=True, default=str).encode()
    ).hexdigest()


def run_steps(
    plan: list[dict],
    steps: list[int],
    integrity_csv: str,
    cache: str | Path,
    params: dict,
    compute: Callable[[Path, bool], dict[str, pd.DataFrame]],
    names: tuple[str, ...],
    detail: tuple[str, ...] = (),
    detail_steps: tuple[int, ...] = (),
    log=None,
) -> dict[str, pd.DataFrame]:
    """Results of ``compute(path, detailed)`` for every planned checkpoint at ``steps``, concatenated
    per table name (columns suite, model, seed, step first). ``detail`` tables are produced only at
    ``detail_steps`` (e.g. per-token tables at the first and last step)."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    integrity = pd.read_csv(integrity_csv)
    sha = {(r.model, int(r.seed), int(r.step)): r.sha256 for r in integrity.itertuples()}
    wanted = set(int(s) for s in steps)
    out: dict[str, list[pd.DataFrame]] = {n: [] for n in names + detail}
    done = reused = 0
    for ref in plan:
        step = int(ref["step"])
        if step not in wanted:
            continue
        need = names + (detail if step in detail_steps else ())
        key = cache_key(str(sha.get((str(ref["model"]), int(ref["seed"]), step))), params)
        meta = cache / f"step{step}.json"
        files = {n: cache / f"step{step}.{n}.parquet" for n in need}
        if (
            meta.exists()
            and json.loads(meta.read_text()).get("key") == key
            and all(f.exists() for f in files.values())
        ):
            tables = {n: pd.read_parquet(f) for n, f in files.items()}
            reused += 1
        else:
            path = registry.resolve(registry.as_checkpoint(ref), ref.get("cache_dir"))
            t = time.perf_counter()
            tables = compute(path, step in detail_steps)
            tables = {
                n: df.assign(
                    **{
                        k: v
                        for k, v in (
                            ("suite", ref["suite"]),
                            ("model", str(ref["model"])),
                            ("seed", int(ref["seed"])),
                            ("step", step),
                        )
                    }
                )
                for n, df in tables.items()
            }
            for n in need:
                tables[n] = tables[n][
                    ["suite", "model", "seed", "step"]
                    + [c for c in tables[n].columns if c not in ("suite", "model", "seed", "step")]
                ]
                tables[n].to_parquet(files[n], index=False)
            meta.write_text(
                json.dumps({"key": key, "ref": ref.get("repo") or ref.get("path"), "step": step})
            )
            done += 1
            if log:
                log.info("step %d: %.2fs", step, time.perf_counter() - t)
        for n in need:
            out[n].append(tables[n])
    if log:
        log.info("%d checkpoints computed, %d reused from earlier runs", done, reused)
    return {n: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for n, v in out.items()}
