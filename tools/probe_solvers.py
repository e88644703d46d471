"""How far the two probe solvers land apart (not run by pytest).

    python tools/probe_solvers.py RESULTS [--iterations 100000] [--out solvers.csv]

For every checkpoint under RESULTS/checkpoints/<suite>/<model>/seed<s>/step<t> of a finished run,
the Gauss-Newton fit (probe.solver: gauss_newton) and the original's Adam recipe (published), with
KL(u || probe) of each and their difference; u is RESULTS/unigram/<suite>.parquet.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from lmdyn.core.checkpoints import load_unembedding  # noqa: E402
from lmdyn.probe import compute as probe  # noqa: E402


def compare(results: Path, iterations: int) -> pd.DataFrame:
    rows = []
    for step_dir in sorted(results.glob("checkpoints/*/*/seed*/step*")):
        suite, model, seed = step_dir.parts[-4], step_dir.parts[-3], step_dir.parts[-2]
        u = pd.read_parquet(results / f"unigram/{suite}.parquet").sort_values("token_id")
        log_u = np.log(u.prob.to_numpy(np.float64))
        W = load_unembedding(step_dir, len(log_u))[0].numpy()
        gn = probe.fit(W, log_u)
        t0 = time.perf_counter()
        pub = probe.fit_published(W, log_u, iterations=iterations)
        seconds = time.perf_counter() - t0
        kl_gn, kl_pub = (probe.kl_both(log_u, r["log_p"])[0] for r in (gn, pub))
        rows.append(
            dict(
                suite=suite,
                model=model,
                seed=int(seed[4:]),
                step=int(step_dir.name[4:]),
                kl_gauss_newton=kl_gn,
                kl_published=kl_pub,
                kl_difference=kl_pub - kl_gn,
                loss_gauss_newton=gn["loss"],
                loss_published=pub["loss"],
                published_seconds=seconds,
            )
        )
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("--iterations", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=Path("probe_solvers.csv"))
    a = ap.parse_args()
    d = compare(a.results, a.iterations)
    d.to_csv(a.out, index=False)
    diff = d.kl_difference.abs()
    print(f"{len(d)} checkpoints: max |dKL| {diff.max():.3g} nats, median {diff.median():.3g}")


if __name__ == "__main__":
    main()
