"""Rule study_suite: one table per analysis for the whole suite (parquet and CSV), phases and outliers."""

import pandas as pd

from lmdyn.core.runner import run
from lmdyn.divergence.phases import phase_table
from lmdyn.divergence.study import example_words, size_pairs_curve

TABLES = ("curves", "seed_groups", "sigma", "dh_kl", "ce_fit", "trajectories")


def write(table, sm, name):
    table.to_parquet(sm.output[f"{name}_parquet"], index=False)
    table.to_csv(sm.output[name], index=False, float_format="%.6g")


def main(sm, log):
    p = sm.params
    feats = pd.read_parquet(sm.input.features)
    per_model = {
        name: pd.concat([pd.read_parquet(f) for f in sm.input[name]], ignore_index=True)
        for name in TABLES
    }
    for name, table in per_model.items():
        write(table, sm, name)
    sigma = per_model["sigma"]
    words = example_words(feats)
    out = sigma[sigma.excludes_one & (sigma.n_tokens >= p.min_tokens)].copy()
    out["examples"] = out.group.map(words).fillna("")
    write(out.sort_values(["model", "metric", "grouping", "step", "sigma"]), sm, "outliers")
    # Contextual learning starts when cross-entropy beats a unigram predictor on the same tokens.
    unigram_ce = float(-feats.log_unigram.mean())
    summary = pd.read_parquet(sm.input.summary)
    phases = phase_table(summary, unigram_ce, n_boot=p.n_boot, random_state=p.boot_seed)
    phases["unigram_cross_entropy"] = unigram_ce
    phases["seed"] = phases.seed.astype(str)  # seed ids and "mean" rows
    if any(item["comparison"] == "steps" for item in p.skipped["skipped"]):
        phases = phases.iloc[:0]  # change points need a curve over steps: none from one step
    write(phases, sm, "phases")
    log.info(
        "unigram cross-entropy on eval tokens %.4f nats; phases:\n%s",
        unigram_ce,
        phases.to_string(),
    )
    sizes = (
        size_pairs_curve(dict(p.sizes), feats, n_boot=p.n_boot, seed=p.boot_seed)
        if p.sizes
        else pd.DataFrame(
            columns=[
                "step",
                "seed",
                "model_a",
                "model_b",
                "direction",
                "mean",
                "ci_low",
                "ci_high",
                "n_tokens",
            ]
        )
    )
    write(sizes, sm, "sizes")
    log.info("outliers: %d of %d sigma rows exclude 1", len(out), len(sigma))
    skipped = p.skipped["skipped"]
    for item in skipped:
        log.warning("%s", item["line"])
    if p.skipped["regression_note"]:
        log.warning("%s", p.skipped["regression_note"])
    cols = ["comparison", "reason", "figures", "tables"]
    rows = [{c: item[c] for c in cols} for item in skipped]
    if p.skipped["regression_note"]:
        rows.append(
            {
                "comparison": "regression metric",
                "reason": p.skipped["regression_note"],
                "figures": "",
                "tables": "",
            }
        )
    write(pd.DataFrame(rows, columns=cols), sm, "skipped")


run(main, snakemake)  # noqa: F821
