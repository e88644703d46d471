"""Rule regression: per-token KL regressed on frequency, tags and model size (statsmodels OLS).

Three kinds of fit on the same terms: at one step (coefficients.csv/.tex), pooled over every step
but 0 with step fixed effects (pooled.csv), and pooled within each training phase (phases.csv).
"""

import pandas as pd

from lmdyn.core.errors import UserError
from lmdyn.core.runner import run
from lmdyn.core.tables import write
from lmdyn.divergence import tables as specs
from lmdyn.divergence.aggregate import seed_pair_tokens
from lmdyn.divergence.pooled import (
    fit_by_phase,
    fit_pooled,
    phase_assignment_text,
    sample_positions,
)
from lmdyn.divergence.regression import fit_kl_regression

SAMPLE_SEED = 0  # regression.tokens_per_step draws the same positions for every step and model
FEATURES = ["doc_id", "position", "target_id", "log_unigram", "tag", "tag_prev"]


def read_values(sm, log, keys):
    """(rows at the regression step, all tokens; rows at every step > 0, restricted to ``keys``)."""
    p = sm.params
    at_step, pooled = [], []
    for f in p.files:  # records: model, step, seed (None for seed pairs), path
        model, step = f["model"], f["step"]
        if p.metric == "kl_seeds":
            pairs = pd.read_parquet(f["path"])
            v = seed_pair_tokens(pairs[pairs.model == model]).rename(columns={"kl_seeds": "kl"})
        else:
            v = pd.read_parquet(f["path"], columns=["doc_id", "position", p.metric]).rename(
                columns={p.metric: "kl"}
            )
        v = v.assign(model=model)
        if step == p.step:
            at_step.append(v)
        if step > 0:
            if keys is not None:
                v = v.merge(keys, on=["doc_id", "position"], how="inner")
            pooled.append(v.assign(step=step))
    log.info("read %d value files", len(p.files))
    return at_step, pooled


def stacked(fits: dict, metric: str, spec) -> pd.DataFrame:
    """The coefficients of several fits over many steps in one table (``step`` NA)."""
    frames = []
    for name, res in fits.items():
        steps = res.diagnostics["steps"]
        frames.append(
            res.coefs.assign(
                response=metric,
                step=pd.array([pd.NA] * len(res.coefs), dtype="Int64"),
                fit=name,
                n_steps=len(steps),
                first_step=min(steps),
                last_step=max(steps),
            )
        )
    return pd.concat(frames, ignore_index=True)[spec.names] if frames else spec.empty()


def main(sm, log):
    p = sm.params
    feats = pd.read_parquet(sm.input.features)
    keys = sample_positions(feats, p.tokens_per_step, seed=SAMPLE_SEED)
    at_step, pooled = read_values(sm, log, keys)
    kw = dict(
        response="kl",
        tag_reference=p.tag_reference,
        size_order=list(p.models),
        min_tag_count=p.min_tag_count,
    )

    data = pd.concat(at_step, ignore_index=True).merge(
        feats, on=["doc_id", "position"], validate="many_to_one"
    )
    log.info("regressing %s at step %s on %d rows", p.metric, p.step, len(data))
    res = fit_kl_regression(data, **kw)
    write_table(
        specs.COEFFICIENTS, res.coefs.assign(response=p.metric, step=p.step), sm.output.coefs
    )
    with open(sm.output.latex, "w") as f:
        f.write(res.latex)
    del data
    log.info("%s", res.text)

    sections = [f"Response: {p.metric} (nats) per predicted token at step {p.step}\n\n{res.text}"]
    if p.metric != p.wanted_metric:
        # a suite without two seeds has no kl_seeds: lmdyn.divergence.comparisons picked the fallback
        note = f"regression.metric {p.wanted_metric} is not available for this suite (one seed): regressed {p.metric}"
        log.warning("%s", note)
        sections.insert(0, note)
    per_step = (
        f"{p.tokens_per_step} token positions per step (seed {SAMPLE_SEED}), the same at every step"
        if keys is not None
        else "every token position"
    )
    pool = (
        pd.concat(pooled, ignore_index=True).merge(
            feats[FEATURES], on=["doc_id", "position"], validate="many_to_one"
        )
        if pooled
        else pd.DataFrame(columns=["kl", "model", "step", *FEATURES])
    )
    del pooled
    log.info("pooled data: %d rows over %d steps (%s)", len(pool), pool["step"].nunique(), per_step)

    fits, notes = {}, []
    try:
        fits["pooled"] = fit_pooled(pool, **kw)
    except UserError as e:
        notes.append(f"pooled fit skipped: {e}")
    write_table(specs.POOLED, stacked(fits, p.metric, specs.POOLED), sm.output.pooled)
    if "pooled" in fits:
        sections.append(
            f"Pooled over steps > 0 with step fixed effects; {per_step}\n\n{fits['pooled'].text}"
        )

    phase_table = pd.read_csv(sm.input.phases)
    if len(phase_table):
        by_phase, cells, phase_notes = fit_by_phase(pool, phase_table, **kw)
        notes += phase_notes
        sections.append(
            "Phases (from the seeds='mean' rows of the phase table; step 0 excluded):\n"
            + phase_assignment_text(cells)
        )
    else:  # a one-step suite has no phases (lmdyn.divergence.comparisons)
        by_phase = {}
        notes.append("per-phase fits skipped: the phase table is empty (the suite has one step)")
    write_table(specs.PHASE_FITS, stacked(by_phase, p.metric, specs.PHASE_FITS), sm.output.phases)
    for name, r in by_phase.items():
        sections.append(f"Phase {name}: pooled with step fixed effects; {per_step}\n\n{r.text}")
    if notes:
        sections.append("Notes:\n" + "\n".join(f"  {n}" for n in notes))
    for n in notes:
        log.warning("%s", n)

    with open(sm.output.text, "w") as f:
        f.write(("\n\n" + "=" * 78 + "\n").join(sections) + "\n")


def write_table(spec, table, csv_path):
    """CSV for people, parquet (beside it, same name) for programs."""
    write(spec, table, csv_path, str(csv_path)[: -len(".csv")] + ".parquet")


run(main, snakemake)  # noqa: F821
