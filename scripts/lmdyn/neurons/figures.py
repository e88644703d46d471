"""Figures of the token neurons."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd

from lmdyn.core.plots import no_data, save, seed_band, step_axis, subplots


def neurons_lens(lens: pd.DataFrame, paths, dpi=150):
    """Logit lens at the last step: logit difference after the embedding and every block, per model."""
    models = list(dict.fromkeys(lens.model))
    fig, axes = subplots(1, len(models), figsize=(4.5 * len(models), 3.6), squeeze=False)
    for ax, m in zip(axes[0], models):
        d = lens[(lens.model == m)]
        d = d[d.step == d.step.max()]
        prompt = d.prompt.iloc[0]
        d = d[d.prompt == prompt]
        for (mode, seed), g in d.groupby(["mode", "seed"]):
            g = g.sort_values("layer")
            ax.plot(
                g.layer,
                g.logit_diff,
                marker="o",
                ms=3,
                ls="-" if mode == "per_layer" else ":",
                label=f"{mode}, seed {seed}",
            )
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(list(g.layer))
        ax.set_xticklabels(list(g.name), rotation=45, fontsize=7)
        ax.set_title(f"{m} step {d.step.max()} ({prompt})", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes[0, 0].set_ylabel("logit difference [nats]")
    save(fig, paths, dpi)


def neurons_patching(lp: pd.DataFrame, title: str, paths, dpi=150):
    """Restored fraction per layer and position for resid_pre, attn_out and mlp_out (one run, one step)."""
    fig, axes = subplots(1, 3, figsize=(13, 3.2), sharey=True)
    tokens = lp.drop_duplicates("position").sort_values("position").token.tolist()
    vmax = max(
        1.0, float(np.nanmax(np.abs(lp.restored.to_numpy()))) if lp.restored.notna().any() else 1.0
    )
    cmap = matplotlib.colormaps["RdBu"].with_extremes(bad="0.75")  # undefined: grey, not white (0)
    for ax, comp in zip(axes, ("resid_pre", "attn_out", "mlp_out")):
        h = lp[lp.component == comp].pivot(index="layer", columns="position", values="restored")
        im = ax.imshow(h.to_numpy(), cmap=cmap, vmin=-vmax, vmax=vmax, aspect="auto")
        ax.set_title(comp)
        if not np.isfinite(h.to_numpy()).any():
            ax.text(0.5, 0.5, "undefined:\nclean ~ corrupted", transform=ax.transAxes, ha="center")
        ax.set_yticks(range(len(h.index)))
        ax.set_yticklabels([str(i) for i in h.index])
        ax.set_xticks(range(len(tokens)))
        ax.set_xticklabels([repr(t)[1:-1] for t in tokens], rotation=90, fontsize=6)
        ax.set_xlabel("position")
    axes[0].set_ylabel("layer")
    fig.colorbar(im, ax=axes, label="restored: (patched - corrupted)\n/ (clean - corrupted)")
    fig.suptitle(title, fontsize=10)
    save(fig, paths, dpi)


def neurons_emergence(
    summary: pd.DataFrame,
    top: pd.DataFrame,
    patch: pd.DataFrame,
    cong: pd.DataFrame,
    paths,
    dpi=150,
):
    """Across steps: clean logit difference, and the last step's top neuron: its restored fraction and
    its congruence with the first target token minus the second, per model with a band across seeds.

    Restored fractions are left out where the table leaves them empty (clean and corrupted closer
    than ``neurons.min_gap`` nats: the normalisation divides by that difference)."""
    models = list(dict.fromkeys(summary.model))
    fig, axes = subplots(1, 3, figsize=(13, 3.6))
    for m in models:
        s = summary[summary.model == m]
        prompt = s.prompt.iloc[0]
        seed_band(axes[0], s[s.prompt == prompt], "logit_diff_clean", m)
        rows_r, rows_c = [], []
        for seed, t in top[(top.model == m) & (top.prompt == prompt)].groupby("seed"):
            last = t[t.step == t.step.max()].iloc[0]
            l, n = int(last.layer), int(last.neuron)
            p = patch[
                (patch.model == m)
                & (patch.seed == seed)
                & (patch.prompt == prompt)
                & (patch.layer == l)
                & (patch.neuron == n)
            ]
            rows_r.append(p[p.restored.notna()][["step", "restored"]].assign(seed=seed))
            c = cong[
                (cong.model == m) & (cong.seed == seed) & (cong.layer == l) & (cong.neuron == n)
            ]
            rows_c.append(
                c.assign(diff=c.congruence_a - c.congruence_b)[["step", "diff"]].assign(seed=seed)
            )
        if rows_r:
            seed_band(axes[1], pd.concat(rows_r), "restored", m)
            seed_band(axes[2], pd.concat(rows_c), "diff", m)
    a, b = (summary[c].iloc[0] if len(summary) else c for c in ("target_a", "target_b"))
    axes[0].set_ylabel(f"clean logit({a!r}) - logit({b!r}) [nats]")
    axes[1].set_ylabel("restored by the last step's top neuron\n(steps where it is defined)")
    axes[2].set_ylabel(f"its congruence with {a!r} minus {b!r}")
    for ax in axes:
        step_axis(ax)
        ax.legend(fontsize=7)
    save(fig, paths, dpi)


def neurons_activation(act: pd.DataFrame, title: str, paths, dpi=150):
    """Share of positions whose top-1 prediction is the token, per bin of the neuron's activation."""
    groups = list(act.groupby(["layer", "neuron", "token_id"], sort=False))
    if not groups:
        return no_data(paths, dpi, "no neuron-token pair")
    fig, axes = subplots(1, len(groups), figsize=(4 * len(groups), 3.4), squeeze=False)
    for ax, ((l, n, _t), g) in zip(axes[0], groups):
        mid = (g.act_low + g.act_high) / 2
        if g.top1_share.fillna(0).eq(0).all():  # no hit anywhere: no curve to draw, not zeros
            ax.text(
                0.5,
                0.5,
                f"no top-1 hit\n({int(g['count'].sum())} positions)",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="0.4",
            )
        else:  # empty bins (NA) are left out
            ax.bar(mid, g.top1_share, width=(g.act_high - g.act_low).iloc[0] * 0.9, color="C0")
            for x, y, c in zip(mid, g.top1_share.fillna(0), g["count"]):
                if c:
                    ax.text(x, y, str(int(c)), ha="center", va="bottom", fontsize=5, rotation=90)
        ax.set_title(f"L{l}.N{n} -> {g.token.iloc[0]!r} ({g.source.iloc[0]})", fontsize=8)
        ax.set_xlabel("activation")
        ax.set_ylim(0, 1.1)
    axes[0, 0].set_ylabel("share of positions predicting the token")
    fig.suptitle(title, fontsize=10)
    save(fig, paths, dpi)
