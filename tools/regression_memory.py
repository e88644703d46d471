"""Peak memory of the pooled regression (not run by pytest): step effects absorbed (the library's
fit_kl_regression) against the dummy-column fit it replaces (statsmodels with C(step), and VIFs
over its design, as before).

    PYTHONPATH=scripts python tools/regression_memory.py [--steps 40 80 160] [--positions 1000]
        [--models 2]

Rows = positions x models x steps. Each (fit, steps) runs in a fresh process: tracemalloc's peak
during the fit (numpy's buffers are traced), and the process's max RSS before and after it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd


def planted(steps: int, positions: int, models: int, seed: int = 0) -> pd.DataFrame:
    """The same token positions at every (model, step): type-level frequency, tag and effect."""
    rng = np.random.default_rng(seed)
    n_types = max(50, positions // 5)
    lu, tag = rng.uniform(-12, -4, n_types), rng.choice(["NN", "VB", "JJ", "DT"], n_types)
    re = rng.normal(0, 0.4, n_types)
    t = rng.integers(0, n_types, positions)
    prev = rng.choice(["NN", "IN", "DT"], positions)
    frames = [
        pd.DataFrame(
            {
                "kl": 0.5 - 0.3 * lu[t] + re[t] + 0.1 * m + np.sin(s) + rng.normal(0, 0.3, len(t)),
                "log_unigram": lu[t],
                "tag": tag[t],
                "tag_prev": prev,
                "model": f"m{m}",
                "step": s,
                "target_id": t,
            }
        )
        for m in range(models)
        for s in range(1, steps + 1)
    ]
    return pd.concat(frames, ignore_index=True)


def dummy_fit(df: pd.DataFrame):
    """The fit as it was: step dummies in the design, statsmodels' cluster-robust OLS on it."""
    import statsmodels.formula.api as smf

    from lmdyn.divergence import regression as r
    from lmdyn.divergence.collinearity import variance_inflation_factors

    notes: list[str] = []
    d, steps = r._complete_rows(df, "kl", "target_id", True, notes)
    terms, refs, _ = r._terms(d, steps, "NN", None, 30, True, notes)
    groups, _ = r._check_design(d, "kl", "target_id", refs)
    fit = smf.ols("Q('kl') ~ " + " + ".join(terms), data=d).fit(
        cov_type="cluster", cov_kwds={"groups": groups}
    )
    variance_inflation_factors(fit.model.exog)
    fit.summary()
    return fit


def child(fit: str, steps: int, positions: int, models: int) -> dict:
    import scipy.sparse  # noqa: F401  imported before tracing: only the fit's own memory counts
    import statsmodels.formula.api  # noqa: F401

    from lmdyn.divergence.regression import fit_kl_regression

    df = planted(steps, positions, models)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    t0 = time.perf_counter()
    if fit == "absorbed":
        fit_kl_regression(df, step_effects=True)
    else:
        dummy_fit(df)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "fit": fit,
        "steps": steps,
        "rows": len(df),
        "traced_peak_mb": round(peak, 1),
        "max_rss_mb_before": round(rss0, 1),
        "max_rss_mb_after": round(rss1, 1),
        "seconds": round(seconds, 1),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, nargs="+", default=[40, 80, 160])
    ap.add_argument("--positions", type=int, default=1000)
    ap.add_argument("--models", type=int, default=2)
    ap.add_argument("--fits", nargs="+", default=["dummy", "absorbed"])
    ap.add_argument("--child", nargs=2, metavar=("FIT", "STEPS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]), a.positions, a.models)))
        return
    for s in a.steps:
        for fit in a.fits:
            cmd = [sys.executable, __file__, "--child", fit, str(s)]
            cmd += ["--positions", str(a.positions), "--models", str(a.models)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            print(out.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
