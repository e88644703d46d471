"""The figure toolkit: byte-reproducible files in every format, every family's figures writing every
path they are given, and the figures.formats option."""

from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml

from lmdyn.anisotropy import figures as anisotropy
from lmdyn.core import configcheck, plots
from lmdyn.divergence import figures as divergence
from lmdyn.geometry import figures as geometry
from lmdyn.neurons import figures as neurons
from lmdyn.probe import figures as probe

REPO = Path(__file__).resolve().parents[1]
# The synthetic suite's shape (tests/test_figures_scale.py sets it to a published suite's).
MODELS, SEEDS, STEPS = ("s", "m"), (0, 1), (0, 1, 4, 16)
TAGS, N_TERMS = ("NN", "VB", "DT"), 3
RNG = np.random.default_rng(0)


def grid(**cols):
    """One row per model x seed x step, with the given extra columns (constants or row functions)."""
    rows = [dict(model=m, seed=k, step=t) for m in MODELS for k in SEEDS for t in STEPS]
    d = pd.DataFrame(rows)
    for name, value in cols.items():
        d[name] = value(len(d)) if callable(value) else value
    return d


def positive(n):
    return RNG.uniform(0.1, 2.0, n)


def curve_rows(metric, **extra):
    """Rows of a study curve table: mean with a bootstrap interval and the seed range."""
    d = grid(**extra).drop(columns="seed").drop_duplicates(["model", "step"]).reset_index(drop=True)
    mean = positive(len(d))
    return d.assign(
        metric=metric,
        mean=mean,
        ci_low=mean - 0.05,
        ci_high=mean + 0.05,
        seed_min=mean - 0.1,
        seed_max=mean + 0.1,
    )


def study_curves():
    metrics = ("kl_uniform", "kl_unigram", "nll", "kl_seeds", "kl_seeds_ab", "kl_seeds_ba")
    return pd.concat([curve_rows(m) for m in metrics], ignore_index=True)


def phases():
    return pd.DataFrame(
        [
            dict(
                model=m,
                seed=None if seed == "mean" else int(seed),
                seeds="mean" if seed == "mean" else "one",
                last_step=STEPS[-1],
                uniform_end=1,
                contextual_onset=4,
                unigram_cross_entropy=1.5,
            )
            for m in MODELS
            for seed in ("0", "1", "mean")
        ]
    )


def seed_groups():
    parts = [
        curve_rows("kl_seeds", grouping=grouping, group=group)
        for grouping, groups in (
            ("freq_bin", (0, 1)),
            ("class", ("noun", "verb")),
            ("class_prev", ("noun", "verb")),
        )
        for group in groups
    ]
    return pd.concat(parts, ignore_index=True).assign(direction="mean")


def sigma():
    rows = [
        dict(
            model="m",
            metric="kl_seeds",
            grouping=grouping,
            group=tag,
            step=step,
            sigma=float(RNG.uniform(0.5, 2.0)),
            n_tokens=50,
            excludes_one=bool(RNG.integers(2)),
        )
        for grouping in ("tag", "tag_prev")
        for tag in TAGS
        for step in STEPS
    ]
    return pd.DataFrame(rows)


def coefficients():
    """The intercept and N_TERMS terms of three variables."""
    variables = ["intercept"] + [("freq", "tag", "tag_prev")[k % 3] for k in range(N_TERMS)]
    coef = RNG.normal(0, 0.3, len(variables))
    return pd.DataFrame(
        dict(
            variable=variables,
            term=["intercept"] + [f"{v}[{k}]" for k, v in enumerate(variables[1:])],
            coef=coef,
            ci_low=coef - 0.1,
            ci_high=coef + 0.1,
        )
    )


def ce_tables():
    traj = pd.concat(
        [grid(grouping="class", group=g, nll=positive, kl_seeds=positive) for g in ("noun", "verb")]
    )
    fits = pd.DataFrame(
        [
            dict(model=m, grouping="class", group=g, form=f, alpha=0.5, b=0.1, r2=0.9)
            for m in MODELS
            for g in ("noun", "verb")
            for f in ("difference", "ratio")
        ]
    )
    return traj, fits


def sizes():
    rows = [
        dict(model_a="s", model_b="m", direction=d, seed=k, step=t, mean=m)
        for d in ("ab", "ba")
        for k in SEEDS
        for t, m in zip(STEPS, positive(len(STEPS)), strict=True)
    ]
    d = pd.DataFrame(rows)
    return d.assign(ci_low=d["mean"] - 0.05, ci_high=d["mean"] + 0.05)


def probe_tokens():
    d = grid()
    d = d[d.step.isin([STEPS[0], STEPS[-1]])]  # the table keeps each run's first and last step
    d = d.loc[d.index.repeat(5)].reset_index(drop=True)
    n = len(d)
    return d.assign(
        token_id=np.tile(np.arange(5), n // 5),
        log_u=-positive(n),
        log_probe=-positive(n),
        pc1=RNG.normal(size=n),
        pc2=RNG.normal(size=n),
        pc1_share=0.3,
        pc2_share=0.2,
    )


def cosine_histograms():
    edges = np.linspace(-1, 1, 5)
    parts = [
        grid(matrix="W_E", variant=v, bin=b, lo=edges[b], hi=edges[b + 1], count=lambda n: 10)
        for v in ("raw", "centred")
        for b in range(4)
    ]
    return pd.concat(parts, ignore_index=True)


LAYERS = ("embed", "block0", "block1")


def per_layer(**cols):
    return pd.concat([grid(layer=i, name=n, **cols) for i, n in enumerate(LAYERS)])


def geometry_accuracy():
    parts = [
        grid(variant=v, split=s, n_tokens=8, accuracy=lambda n: RNG.uniform(0.3, 1.0, n))
        for v, s, _ in geometry.VARIANTS
    ]
    parts += [
        grid(variant="length", split="document", n_tokens=L, accuracy=lambda n: RNG.uniform(size=n))
        for L in (4, 8)
    ]
    return pd.concat(parts, ignore_index=True).assign(chance=1 / 3, n_classes=3)


def geometry_pca():
    pca = pd.concat(
        [
            pd.DataFrame(
                dict(layer=i, name=n, normalised=z, pc1=RNG.normal(size=4), pc2=RNG.normal(size=4))
            )
            for i, n in enumerate(LAYERS)
            for z in (False, True)
        ]
    )
    var = pd.DataFrame(
        [
            dict(normalised=z, component=c, explained_ratio=0.4 - 0.1 * c)
            for z in (False, True)
            for c in (0, 1, 2)
        ]
    )
    return pca, var


def attribution():
    return pd.concat(
        [
            grid(rank=r, share=0.5 / (r + 1), cumulative_share=min(1.0, 0.3 * (r + 1)))
            for r in range(4)
        ]
    )


def patching():
    return pd.DataFrame(
        [
            dict(component=c, layer=i, position=p, token=t, restored=float(RNG.uniform(-1, 1)))
            for c in ("resid_pre", "attn_out", "mlp_out")
            for i in range(2)
            for p, t in enumerate(("The", " cat", " sat"))
        ]
    )


def emergence():
    summary = grid(
        prompt="p",
        target_a=" States",
        target_b=" of",
        logit_diff_clean=lambda n: RNG.uniform(1, 3, n),
        logit_diff_corrupted=0.0,
    )
    top = grid(prompt="p", layer=1, neuron=7)
    patch = grid(prompt="p", layer=1, neuron=7, restored=lambda n: RNG.uniform(size=n))
    cong = grid(layer=1, neuron=7, congruence_a=positive, congruence_b=positive)
    return summary, top, patch, cong


def activation():
    edges = np.linspace(-1, 1, 4)
    return pd.DataFrame(
        [
            dict(
                layer=1,
                neuron=7,
                token_id=3,
                token=" cat",
                source="top neuron",
                act_low=edges[b],
                act_high=edges[b + 1],
                top1_share=float(RNG.uniform()),
                count=5 * b,
            )
            for b in range(3)
        ]
    )


EMPTY = pd.DataFrame()

# Every family figure function, called on a tiny synthetic table of the shape it reads.
FIGURES = {
    "kl_reference": lambda p: divergence.kl_reference(
        grid(kl_uniform=positive, kl_unigram=positive), p
    ),
    "kl_seeds": lambda p: divergence.kl_seeds(grid(kl_seeds=positive), p),
    "regression": lambda p: divergence.regression_coefficients(coefficients(), p, title="t"),
    "phases": lambda p: divergence.study_phases(study_curves(), phases(), p),
    "seed_divergence": lambda p: divergence.seed_divergence(study_curves(), p),
    "seed_groups": lambda p: divergence.seed_groups(seed_groups(), p),
    "sigma": lambda p: divergence.sigma_panels(sigma(), "m", "kl_seeds", p),
    "sigma_no_tag": lambda p: divergence.sigma_panels(sigma(), "m", "kl_seeds", p, 10**9),
    "sigma_no_step": lambda p: divergence.sigma_panels(sigma().iloc[:0], "m", "kl_seeds", p),
    "ce_fit": lambda p: divergence.ce_fit(*ce_tables(), p),
    "dh_kl": lambda p: divergence.dh_kl(
        grid(p_high_dh_given_low_kl=positive, p_high_dh_overall=positive), p
    ),
    "sizes": lambda p: divergence.size_divergence(sizes(), p),
    "sizes_one_model": lambda p: divergence.size_divergence(EMPTY, p),
    "probe_kl": lambda p: probe.probe_kl(grid(kl_u_probe=positive, kl_probe_u=positive), p),
    "probe_scatter": lambda p: probe.probe_scatter(probe_tokens(), [0], p),
    "probe_pca": lambda p: probe.probe_pca(probe_tokens(), [0], p),
    "probe_no_data": lambda p: probe.probe_kl(EMPTY, p),
    "anisotropy_hist": lambda p: anisotropy.anisotropy_hist(cosine_histograms(), p),
    "anisotropy_mean": lambda p: anisotropy.anisotropy_mean(
        pd.concat([grid(matrix="W_E", variant=v, mean_cos=positive) for v in ("raw", "centred")]),
        p,
    ),
    "anisotropy_no_data": lambda p: anisotropy.anisotropy_hist(EMPTY, p),
    "geometry_accuracy": lambda p: geometry.geometry_accuracy(geometry_accuracy(), p),
    "geometry_norms": lambda p: geometry.geometry_norms(
        per_layer(norm_mean=positive, norm_min=0.05, norm_max=2.5), p
    ),
    "geometry_pca": lambda p: geometry.geometry_pca(*geometry_pca(), "title", p),
    "geometry_attribution": lambda p: geometry.geometry_attribution(
        attribution(), geometry_accuracy(), p
    ),
    "neurons_lens": lambda p: neurons.neurons_lens(
        pd.concat(
            [
                per_layer(prompt="p", mode=mode, logit_diff=positive)
                for mode in ("per_layer", "final_scale")
            ]
        ),
        p,
    ),
    "neurons_patching": lambda p: neurons.neurons_patching(patching(), "title", p),
    "neurons_emergence": lambda p: neurons.neurons_emergence(*emergence(), p),
    "neurons_activation": lambda p: neurons.neurons_activation(activation(), "title", p),
    "neurons_no_pair": lambda p: neurons.neurons_activation(activation().iloc[:0], "title", p),
}


@pytest.mark.parametrize("name", FIGURES)
def test_every_family_figure_writes_every_path_it_is_given(tmp_path, name):
    paths = [tmp_path / f"{name}.{fmt}" for fmt in plots.FORMATS]
    FIGURES[name](paths)
    for p in paths:
        assert p.stat().st_size > 1000, p.name


def test_the_same_figure_gives_byte_identical_files_in_every_format(tmp_path, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)  # matplotlib's own way to fix dates
    # a heatmap with a colorbar, and seed bands on the step axis with a legend
    lp, acc = patching(), geometry_accuracy()
    for run in ("a", "b"):
        neurons.neurons_patching(lp, "title", [tmp_path / f"{run}_map.{f}" for f in plots.FORMATS])
        geometry.geometry_accuracy(acc, [tmp_path / f"{run}_acc.{f}" for f in plots.FORMATS])
    for name in ("map", "acc"):
        for fmt in plots.FORMATS:
            a, b = (tmp_path / f"{run}_{name}.{fmt}" for run in ("a", "b"))
            assert a.read_bytes() == b.read_bytes(), a.name
        assert b"CreationDate" not in (tmp_path / f"a_{name}.pdf").read_bytes()
        assert b"<dc:date>" not in (tmp_path / f"a_{name}.svg").read_bytes()


def test_save_refuses_an_unknown_format(tmp_path):
    fig, _ = plots.subplots()
    with pytest.raises(ValueError, match="png, pdf, svg"):
        plots.save(fig, [tmp_path / "f.jpg"], 50)


def test_figure_paths_gathers_the_png_and_its_other_formats():
    output = {"kl": "kl.png", "kl_pdf": "kl.pdf", "kl_svg": "kl.svg", "pca": "pca.png"}
    assert plots.figure_paths(output, "kl") == ["kl.png", "kl.pdf", "kl.svg"]
    assert plots.figure_paths(output, "pca") == ["pca.png"]


SCHEMA = REPO / "config/schemas/config.schema.yaml"


def test_formats_default_to_png_and_pdf_and_allow_only_known_formats():
    from snakemake.utils import validate

    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    del cfg["figures"]
    validate(cfg, str(SCHEMA))  # fills defaults
    assert cfg["figures"]["formats"] == ["png", "pdf"]
    cfg["figures"]["formats"] = ["png", "jpg"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cfg, yaml.safe_load(SCHEMA.read_text()))


def test_formats_without_png_are_refused_with_one_line():
    cfg = {
        "metrics": {"device": "cpu"},
        "aggregate": {"freq_bins": 10},
        "figures": {"formats": ["pdf", "svg"]},
    }
    assert configcheck.problems(cfg) == [
        "figures.formats [pdf, svg] leaves out png, the format the HTML report shows; add png"
    ]
    cfg["figures"]["formats"] = ["svg", "png"]
    assert configcheck.problems(cfg) == []


def test_a_config_without_png_stops_before_any_job_with_one_line(tmp_path):
    from test_workflow import make_corpus, one_line_error, tiny_config

    make_corpus(tmp_path / "corpus.jsonl", n_docs=10)
    cfg = tiny_config(tmp_path)
    c = yaml.safe_load(cfg.read_text())
    c["figures"] = {"formats": ["pdf"]}
    cfg.write_text(yaml.safe_dump(c))
    one_line_error(tmp_path, cfg, r"^lmdyn: figures\.formats \[pdf\] leaves out png")
