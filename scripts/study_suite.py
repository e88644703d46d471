"""Rule study_suite: one table per analysis for the whole suite (parquet and CSV), phases and outliers."""

import pandas as pd

from lmdyn.core.runner import run
from lmdyn.core.tables import concat, write
from lmdyn.divergence import tables as specs
from lmdyn.divergence.phases import phase_table
from lmdyn.divergence.study import example_words, size_pairs_curve

TABLES = {
    "curves": specs.CURVES,
    "seed_groups": specs.SEED_GROUPS,
    "sigma": specs.SIGMA,
    "dh_kl": specs.DH_KL,
    "ce_fit": specs.CE_FIT,
    "trajectories": specs.TRAJECTORIES,
}


def save(spec, table, sm, name):
    write(spec, table, sm.output[f"{name}_parquet"], sm.output[name])


def main(sm, log):
    p, suite = sm.params, sm.wildcards.suite
    feats = pd.read_parquet(sm.input.features)
    per_model = {name: concat(spec, sm.input[name]) for name, spec in TABLES.items()}
    for name, table in per_model.items():
        save(TABLES[name], table, sm, name)
    sigma = per_model["sigma"]
    words = example_words(feats)
    out = sigma[sigma.excludes_one & (sigma.n_tokens >= p.min_tokens)].copy()
    out["examples"] = out.group.map(words).fillna("").astype(str)
    out = out.sort_values(["model", "metric", "grouping", "step", "sigma"])
    save(specs.OUTLIERS, out if len(out) else specs.OUTLIERS.empty(), sm, "outliers")
    # Contextual learning starts when cross-entropy beats a unigram predictor on the same tokens.
    unigram_ce = float(-feats.log_unigram.mean())
    summary = pd.read_parquet(sm.input.summary)
    phases = phase_table(summary, unigram_ce, n_boot=p.n_boot, random_state=p.boot_seed)
    phases["unigram_cross_entropy"] = unigram_ce
    if any(item["comparison"] == "steps" for item in p.skipped["skipped"]):
        phases = phases.iloc[:0]  # change points need a curve over steps: none from one step
    save(specs.PHASES, phases, sm, "phases")
    log.info(
        "unigram cross-entropy on eval tokens %.4f nats; phases:\n%s",
        unigram_ce,
        phases.to_string(),
    )
    sizes = (
        size_pairs_curve(dict(p.sizes), feats, n_boot=p.n_boot, seed=p.boot_seed)
        if p.sizes
        else pd.DataFrame()
    )
    if len(sizes):
        sizes.insert(0, "suite", suite)
    save(specs.SIZES, sizes if len(sizes) else specs.SIZES.empty(), sm, "sizes")
    log.info("outliers: %d of %d sigma rows exclude 1", len(out), len(sigma))
    skipped = p.skipped["skipped"]
    for item in skipped:
        log.warning("%s", item["line"])
    if p.skipped["regression_note"]:
        log.warning("%s", p.skipped["regression_note"])
    cols = ["comparison", "reason", "figures", "tables"]
    rows = [{"suite": suite, **{c: item[c] for c in cols}} for item in skipped]
    if p.skipped["regression_note"]:
        rows.append(
            {
                "suite": suite,
                "comparison": "regression metric",
                "reason": p.skipped["regression_note"],
                "figures": "",
                "tables": "",
            }
        )
    save(specs.SKIPPED, pd.DataFrame(rows) if rows else specs.SKIPPED.empty(), sm, "skipped")


run(main, snakemake)  # noqa: F821
