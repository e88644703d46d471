"""Which comparisons a suite can have: seed pairs need two seeds, consecutive steps two steps, sizes
two models. A suite without one of them (Pythia has one seed, a `final` suite one step) runs every
other analysis and skips these, each with one line saying why.

Stdlib only: lmdyn.divergence.jobs calls it while the DAG is built.
"""

from __future__ import annotations

from dataclasses import dataclass

# What each comparison feeds: figures ({model} expands per model) and study tables.
FIGURES = {
    "seeds": ("kl_seeds", "seed_divergence", "seed_groups", "ce_fit", "dh_kl", "sigma_{model}"),
    "steps": ("phases", "learnability_{model}"),
    "sizes": ("sizes",),
}
TABLES = {
    "seeds": ("seed_groups", "dh_kl", "ce_fit", "trajectories", "outliers", "sigma (kl_seeds)"),
    "steps": ("phases", "sigma (kl_steps)", "per-phase regressions"),
    "sizes": ("sizes", "the regression's model term"),
}
NEEDS = {"seeds": "two seeds", "steps": "two steps", "sizes": "two model sizes"}
SINGULAR = {"seeds": "seed", "steps": "step", "sizes": "size"}
# Regression response used when the configured one needs seed pairs the suite does not have.
FALLBACK_METRIC = "kl_unigram"


@dataclass(frozen=True)
class Comparisons:
    """What a suite with ``n_models`` models, ``n_seeds`` seeds and ``n_steps`` steps can compare."""

    n_models: int
    n_seeds: int
    n_steps: int

    @property
    def seeds(self) -> bool:
        return self.n_seeds >= 2

    @property
    def steps(self) -> bool:
        return self.n_steps >= 2

    @property
    def sizes(self) -> bool:
        return self.n_models >= 2

    def has(self, kind: str) -> bool:
        return getattr(self, kind)

    def skipped(self) -> list[dict]:
        """One record per comparison the suite cannot have: kind, reason, figures and tables left out."""
        counts = {
            "seeds": (self.n_seeds, "seed"),
            "steps": (self.n_steps, "step"),
            "sizes": (self.n_models, "model"),
        }
        out = []
        for kind in ("seeds", "steps", "sizes"):
            if self.has(kind):
                continue
            n, noun = counts[kind]
            figs = ", ".join(f.replace("{model}", "<model>") for f in FIGURES[kind])
            tables = ", ".join(TABLES[kind])
            out.append(
                {
                    "comparison": kind,
                    "reason": f"the suite has {n} {noun}{'' if n == 1 else 's'}; {SINGULAR[kind]} comparisons need "
                    f"{NEEDS[kind]}",
                    "figures": figs,
                    "tables": tables,
                    "line": f"skipped {SINGULAR[kind]} comparisons: the suite has {n} {noun}{'' if n == 1 else 's'} "
                    f"(they need {NEEDS[kind]}); not produced: figures {figs}; empty: {tables}",
                }
            )
        return out

    def figures(self, models: list[str]) -> list[str]:
        """Figure names (without suffix) the suite produces among those that need a comparison."""
        names = []
        for kind, figs in FIGURES.items():
            if self.has(kind):
                for f in figs:
                    names += [f.format(model=m) for m in models] if "{model}" in f else [f]
        return names

    def regression_metric(self, wanted: str) -> tuple[str, str | None]:
        """(metric the regression uses, note saying why it differs from ``wanted`` or None)."""
        if wanted == "kl_seeds" and not self.seeds:
            return FALLBACK_METRIC, (
                f"regression.metric kl_seeds needs two seeds and the suite has {self.n_seeds}: "
                f"regressing {FALLBACK_METRIC} instead"
            )
        return wanted, None


def comparisons(n_models: int, n_seeds: int, n_steps: int) -> Comparisons:
    return Comparisons(n_models, n_seeds, n_steps)
