"""Figures of the layer-geometry and token-neuron families (matplotlib, Agg). Each function writes every
path it is given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

VARIANTS = [("raw", "document", "raw, split by document"), ("raw", "vector", "raw, split by vector (original)"),
            ("normalised", "document", "unit-normalised"), ("transfer", "corpus", "transfer to 2nd corpus"),
            ("control", "document", "random-vector control")]


def _save(fig, paths, dpi):
    for p in paths:
        fig.savefig(p, dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def _step_axis(ax):
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)


def _band(ax, d: pd.DataFrame, y: str, label: str, color=None):
    """Mean over seeds against step with the min-max band across seeds."""
    g = d.groupby("step")[y].agg(["mean", "min", "max"]).reset_index()
    line, = ax.plot(g.step, g["mean"], marker="o", ms=3, label=label, color=color)
    ax.fill_between(g.step, g["min"], g["max"], alpha=0.2, color=line.get_color())


def geometry_accuracy(acc: pd.DataFrame, paths, dpi=150):
    """Held-out layer-classifier accuracy against step, one panel per model, band across seeds."""
    models = list(dict.fromkeys(acc.model))
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 3.6), squeeze=False, sharey=True)
    for ax, m in zip(axes[0], models):
        d = acc[acc.model == m]
        for variant, split, label in VARIANTS:
            v = d[(d.variant == variant) & (d.split == split)]
            if len(v):
                _band(ax, v, "accuracy", label)
        chance = d.chance.iloc[0]
        ax.axhline(chance, color="k", ls="--", lw=1, label=f"chance 1/{d.n_classes.iloc[0]}")
        _step_axis(ax)
        ax.set_title(m)
        ax.set_ylim(0, 1.02)
    axes[0, 0].set_ylabel("layer-classifier accuracy (held out)")
    axes[0, -1].legend(fontsize=7, loc="best")
    _save(fig, paths, dpi)


def geometry_norms(norms: pd.DataFrame, paths, dpi=150):
    """Mean L2 norm per layer (min-max band) at every step of the first seed; one panel per model."""
    models = list(dict.fromkeys(norms.model))
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 3.6), squeeze=False)
    for ax, m in zip(axes[0], models):
        d = norms[(norms.model == m) & (norms.seed == norms[norms.model == m].seed.min())]
        steps = sorted(d.step.unique())
        cmap = plt.get_cmap("viridis")
        for i, s in enumerate(steps):
            g = d[d.step == s].sort_values("layer")
            c = cmap(i / max(1, len(steps) - 1))
            ax.plot(g.layer, g.norm_mean, color=c, marker="o", ms=3, label=f"step {s}" if i in (0, len(steps) - 1) else None)
            ax.fill_between(g.layer, g.norm_min, g.norm_max, color=c, alpha=0.08)
        ax.set_yscale("log")
        ax.set_xticks(list(g.layer))
        ax.set_xticklabels(list(g.name), rotation=45, fontsize=7)
        ax.set_title(f"{m}, seed {d.seed.min()}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("L2 norm of the state (mean, min-max band)")
    _save(fig, paths, dpi)


def geometry_pca(pca: pd.DataFrame, var: pd.DataFrame, title: str, paths, dpi=150):
    """PCA of all layers' states in one basis, raw and unit-normalised, coloured by layer."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    cmap = plt.get_cmap("viridis")
    n = pca.layer.max() + 1
    for ax, normalised in zip(axes, (False, True)):
        d = pca[pca.normalised == normalised]
        v = var[(var.normalised == normalised)].sort_values("component").explained_ratio.to_numpy()
        for layer, g in d.groupby("layer"):
            ax.scatter(g.pc1, g.pc2, s=4, alpha=0.6, color=cmap(layer / max(1, n - 1)), label=g.name.iloc[0])
        ax.set_title(f"{'unit-normalised' if normalised else 'raw'} ({100 * v[:2].sum():.0f}% of variance)")
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
    axes[1].legend(fontsize=7, markerscale=3, loc="best")
    fig.suptitle(title, fontsize=9)
    _save(fig, paths, dpi)


def geometry_attribution(att: pd.DataFrame, acc: pd.DataFrame, paths, dpi=150):
    """Cumulative share of |coefficient| over dimensions (left) and accuracy against L (right), last step."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for (m, seed), g in att.groupby(["model", "seed"], sort=False):
        g = g[g.step == g.step.max()].sort_values("rank")
        axes[0].plot(g["rank"] / len(g), g.cumulative_share, label=f"{m} s{seed} (top dim {100 * g.share.iloc[0]:.1f}%)")
    axes[0].plot([0, 1], [0, 1], "k--", lw=1, label="uniform")
    axes[0].set_xlabel("share of dimensions (largest first)")
    axes[0].set_ylabel("cumulative share of |coefficient|")
    axes[0].legend(fontsize=6)
    ln = acc[acc.variant == "length"]
    for m, g in ln.groupby("model", sort=False):
        g = g[g.step == g.step.max()]
        s = g.groupby("n_tokens").accuracy.agg(["mean", "min", "max"]).reset_index()
        axes[1].errorbar(s.n_tokens, s["mean"], yerr=[s["mean"] - s["min"], s["max"] - s["mean"]], marker="o",
                         capsize=3, label=m)
    axes[1].set_xlabel("tokens per window L")
    axes[1].set_ylabel("accuracy (document split)")
    axes[1].legend(fontsize=7)
    for ax in axes:
        ax.grid(alpha=0.3)
    _save(fig, paths, dpi)


def neurons_lens(lens: pd.DataFrame, paths, dpi=150):
    """Logit lens at the last step: logit difference after the embedding and every block, per model."""
    models = list(dict.fromkeys(lens.model))
    fig, axes = plt.subplots(1, len(models), figsize=(4.5 * len(models), 3.6), squeeze=False)
    for ax, m in zip(axes[0], models):
        d = lens[(lens.model == m)]
        d = d[d.step == d.step.max()]
        prompt = d.prompt.iloc[0]
        d = d[d.prompt == prompt]
        for (mode, seed), g in d.groupby(["mode", "seed"]):
            g = g.sort_values("layer")
            ax.plot(g.layer, g.logit_diff, marker="o", ms=3, ls="-" if mode == "per_layer" else ":",
                    label=f"{mode}, seed {seed}")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(list(g.layer))
        ax.set_xticklabels(list(g.name), rotation=45, fontsize=7)
        ax.set_title(f"{m} step {d.step.max()} ({prompt})", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes[0, 0].set_ylabel("logit difference [nats]")
    _save(fig, paths, dpi)


def neurons_patching(lp: pd.DataFrame, title: str, paths, dpi=150):
    """Restored fraction per layer and position for resid_pre, attn_out and mlp_out (one run, one step)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
    tokens = lp.drop_duplicates("position").sort_values("position").token.tolist()
    vmax = max(1.0, float(np.nanmax(np.abs(lp.restored.to_numpy()))) if lp.restored.notna().any() else 1.0)
    for ax, comp in zip(axes, ("resid_pre", "attn_out", "mlp_out")):
        h = lp[lp.component == comp].pivot(index="layer", columns="position", values="restored")
        im = ax.imshow(h.to_numpy(), cmap="RdBu", vmin=-vmax, vmax=vmax, aspect="auto")
        ax.set_title(comp)
        ax.set_yticks(range(len(h.index)))
        ax.set_yticklabels([str(i) for i in h.index])
        ax.set_xticks(range(len(tokens)))
        ax.set_xticklabels([repr(t)[1:-1] for t in tokens], rotation=90, fontsize=6)
        ax.set_xlabel("position")
    axes[0].set_ylabel("layer")
    fig.colorbar(im, ax=axes, shrink=0.8, label="restored (patched - corrupted) / (clean - corrupted)")
    fig.suptitle(title, fontsize=9)
    _save(fig, paths, dpi)


def neurons_emergence(summary: pd.DataFrame, top: pd.DataFrame, patch: pd.DataFrame, cong: pd.DataFrame,
                      paths, dpi=150, min_gap: float = 0.5):
    """Across steps: clean logit difference, and the last step's top neuron: its restored fraction and
    its congruence difference (target a minus target b), per model with a band across seeds.

    Restored fractions are left out at steps where clean and corrupted differ by less than
    ``min_gap`` nats (the normalisation divides by that difference)."""
    models = list(dict.fromkeys(summary.model))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for m in models:
        s = summary[summary.model == m]
        prompt = s.prompt.iloc[0]
        _band(axes[0], s[s.prompt == prompt], "logit_diff_clean", m)
        rows_r, rows_c = [], []
        for seed, t in top[(top.model == m) & (top.prompt == prompt)].groupby("seed"):
            last = t[t.step == t.step.max()].iloc[0]
            l, n = int(last.layer), int(last.neuron)
            p = patch[(patch.model == m) & (patch.seed == seed) & (patch.prompt == prompt) & (patch.layer == l)
                      & (patch.neuron == n)]
            sd = s[(s.seed == seed) & (s.prompt == prompt)]
            big = set(sd.step[(sd.logit_diff_clean - sd.logit_diff_corrupted).abs() >= min_gap])
            rows_r.append(p[p.step.isin(big)][["step", "restored"]].assign(seed=seed))
            c = cong[(cong.model == m) & (cong.seed == seed) & (cong.layer == l) & (cong.neuron == n)]
            rows_c.append(c.assign(diff=c.congruence_a - c.congruence_b)[["step", "diff"]].assign(seed=seed))
        if rows_r:
            _band(axes[1], pd.concat(rows_r), "restored", m)
            _band(axes[2], pd.concat(rows_c), "diff", m)
    axes[0].set_ylabel("clean logit difference [nats]")
    axes[1].set_ylabel(f"restored by the last step's top neuron\n(steps with |clean - corrupted| >= {min_gap})")
    axes[2].set_ylabel("its congruence: target a - target b")
    for ax in axes:
        _step_axis(ax)
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, paths, dpi)


def neurons_activation(act: pd.DataFrame, title: str, paths, dpi=150):
    """Share of positions whose top-1 prediction is the token, per bin of the neuron's activation."""
    groups = list(act.groupby(["layer", "neuron", "token_id"], sort=False))
    if not groups:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no neuron-token pair", ha="center")
        ax.axis("off")
        _save(fig, paths, dpi)
        return
    fig, axes = plt.subplots(1, len(groups), figsize=(4 * len(groups), 3.4), squeeze=False)
    for ax, ((l, n, t), g) in zip(axes[0], groups):
        mid = (g.act_low + g.act_high) / 2
        ax.bar(mid, g.top1_share.fillna(0), width=(g.act_high - g.act_low).iloc[0] * 0.9, color="C0")
        for x, y, c in zip(mid, g.top1_share.fillna(0), g["count"]):
            if c:
                ax.text(x, y, str(int(c)), ha="center", va="bottom", fontsize=5, rotation=90)
        ax.set_title(f"L{l}.N{n} -> {g.token.iloc[0]!r}\n{g.source.iloc[0]}", fontsize=8)
        ax.set_xlabel("activation")
        ax.set_ylim(0, 1.1)
    axes[0, 0].set_ylabel("share of positions predicting the token")
    fig.suptitle(title, fontsize=9)
    _save(fig, paths, dpi)
