"""A model's tables reduced from per-step parts in the result store: the bytes of a job that
computes every step, whichever steps were stored before, and a changed input computed again."""

import logging

import numpy as np
import pandas as pd

from lmdyn.core.store import Store
from lmdyn.core.tables import write
from lmdyn.divergence import tables as specs
from lmdyn.divergence.steps import TASK, model_tables
from lmdyn.divergence.study import with_keys

STUDY = {t.name.split(".")[1]: t for t in specs.STUDY_MODEL}
STEPS, SEEDS = (0, 10, 20, 40), (0, 1, 2)


def write_inputs(root, rng):
    """Per-token tables of 3 seeds at 4 steps, seed-pair and step-pair tables (two models in
    each, as the suite's pair tables hold them) and token features, as files."""
    n_docs, per_doc = 12, 20
    keys = pd.DataFrame(
        {
            "doc_id": np.repeat(np.arange(n_docs), per_doc),
            "position": np.tile(np.arange(1, per_doc + 1), n_docs),
        }
    )
    n = len(keys)
    features = keys.assign(
        tag=rng.choice(["NN", "DT", "VBZ", "VBG"], n),
        tag_prev=rng.choice(["NN", "DT", "VBZ"], n),
        freq_bin=rng.integers(0, 3, n),
        word="w",
        bow=rng.random(n) < 0.7,
        eow=rng.random(n) < 0.7,
    )
    features.to_parquet(root / "features.parquet")
    files = {"metrics": {s: {} for s in SEEDS}, "seed_pairs": {}, "step_pairs": {}}
    for i, step in enumerate(STEPS):
        for s in SEEDS:
            f = root / f"m{s}_{step}.parquet"
            keys.assign(
                target_id=0,
                nll=rng.gamma(2.0, 1.0, n),
                entropy=rng.gamma(2.0, 1.0, n),
                kl_uniform=rng.random(n),
                kl_unigram=rng.random(n),
            ).to_parquet(f)
            files["metrics"][s][step] = str(f)
        pairs = [
            keys.assign(model=m, seed_a=a, seed_b=b, kl_ab=rng.random(n), kl_ba=rng.random(n))
            for m in ("m", "other")
            for a, b in ((0, 1), (0, 2), (1, 2))
        ]
        f = root / f"seeds_{step}.parquet"
        pd.concat(pairs, ignore_index=True).to_parquet(f)
        files["seed_pairs"][step] = str(f)
        prev = [
            keys.assign(
                model="m", seed=s, step_a=STEPS[i - 1], step_b=step, kl_ab=rng.random(n)
            ).assign(kl_ba=lambda d: d.kl_ab * 0.5)
            for s in SEEDS
            if i
        ]
        f = root / f"steps_{step}.parquet"
        (pd.concat(prev, ignore_index=True) if prev else pairs[0].iloc[:0]).to_parquet(f)
        files["step_pairs"][step] = str(f)
    return root / "features.parquet", files


def tables_bytes(out, features, files, store, log) -> dict:
    """Run the model's tables and write them as model_tables does; name -> file bytes."""
    summary, breakdown, study = model_tables("s", "m", features, files, 20, 0, 5.0, store, log)
    (out / "tables/s/m").mkdir(parents=True)
    (out / "study/s/m").mkdir(parents=True)
    paths = {n: out / f"tables/s/m/{n}.parquet" for n in ("summary", "breakdown")}
    write(specs.SUMMARY_MODEL, summary, paths["summary"])
    write(specs.BREAKDOWN_MODEL, breakdown, paths["breakdown"])
    for name, table in study.items():
        paths[name] = out / f"study/s/m/{name}.parquet"
        write(STUDY[name], with_keys(table, STUDY[name], "s", "m"), paths[name])
    return {name: p.read_bytes() for name, p in paths.items()}


def only(files, steps) -> dict:
    return {
        "metrics": {s: {t: f[t] for t in steps} for s, f in files["metrics"].items()},
        "seed_pairs": {t: files["seed_pairs"][t] for t in steps},
        "step_pairs": {t: files["step_pairs"][t] for t in steps},
    }


def computed(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "computed (" in r.getMessage()]


def test_stored_steps_give_the_bytes_of_a_full_computation(tmp_path, rng, caplog):
    caplog.set_level(logging.INFO)
    log = logging.getLogger("model_tables")
    features, files = write_inputs(tmp_path, rng)
    full = tables_bytes(tmp_path / "full", features, files, Store(tmp_path / "a", log), log)
    assert len(computed(caplog)) == len(STEPS)

    # another store, steps 0, 10 and 40 computed by an earlier job, then every step: one computed
    store = Store(tmp_path / "b", log)
    tables_bytes(tmp_path / "early", features, only(files, [0, 10, 40]), store, log)
    caplog.clear()
    again = tables_bytes(tmp_path / "again", features, files, store, log)
    assert computed(caplog) == ["step 20 computed (3/4)"]
    assert again == full
    assert len(list((tmp_path / "b" / TASK).glob("*/*"))) == len(STEPS)

    # an input changed (one seed's per-token table at step 10): that step alone is computed again
    m = pd.read_parquet(files["metrics"][1][10])
    m.assign(nll=m.nll * 2).to_parquet(files["metrics"][1][10])
    caplog.clear()
    changed = tables_bytes(tmp_path / "changed", features, files, store, log)
    assert computed(caplog) == ["step 10 computed (2/4)"]
    assert changed["summary"] != full["summary"] and changed["curves"] != full["curves"]


def test_an_unreadable_part_is_computed_again(tmp_path, rng, caplog):
    caplog.set_level(logging.INFO)
    log = logging.getLogger("model_tables")
    features, files = write_inputs(tmp_path, rng)
    store = Store(tmp_path / "store", log)
    full = tables_bytes(tmp_path / "full", features, files, store, log)
    part = next((tmp_path / "store" / TASK).glob("*/*/parts.pkl"))
    part.write_bytes(part.read_bytes()[:-10])  # cut short: its size no longer matches meta.json
    caplog.clear()
    assert tables_bytes(tmp_path / "again", features, files, store, log) == full
    assert len(computed(caplog)) == 1 and "unreadable" in caplog.text
