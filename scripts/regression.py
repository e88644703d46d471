"""Rule regression: per-token KL regressed on frequency, tags and model size (statsmodels OLS)."""

import pandas as pd

from lmdyn.aggregate import seed_pair_tokens
from lmdyn.regression import fit_kl_regression
from lmdyn.runner import run


def main(sm, log):
    p = sm.params
    feats = pd.read_parquet(sm.input.features)
    frames = []
    if p.metric == "kl_seeds":
        for model, path in zip(p.models, sm.input["values"]):
            frames.append(seed_pair_tokens(pd.read_parquet(path)).rename(columns={"kl_seeds": "kl"}).assign(model=model))
    else:
        per_model = len(sm.input["values"]) // len(p.models)
        for i, path in enumerate(sm.input["values"]):
            m = pd.read_parquet(path)[["doc_id", "position", p.metric]].rename(columns={p.metric: "kl"})
            frames.append(m.assign(model=p.models[i // per_model]))
    data = pd.concat(frames, ignore_index=True).merge(feats, on=["doc_id", "position"], validate="many_to_one")
    log.info("regressing %s at step %s on %d rows", p.metric, p.step, len(data))
    res = fit_kl_regression(data, response="kl", tag_reference=p.tag_reference, size_order=list(p.models),
                            min_tag_count=p.min_tag_count)
    res.coefs.assign(response=p.metric, step=p.step).to_csv(sm.output.coefs, index=False, float_format="%.6g")
    with open(sm.output.latex, "w") as f:
        f.write(res.latex)
    with open(sm.output.text, "w") as f:
        f.write(f"Response: {p.metric} (nats) per predicted token at step {p.step}\n\n{res.text}\n")
    log.info("%s", res.text)


run(main, snakemake)  # noqa: F821
