"""Family 1, convergence and divergence of output distributions: per-token metrics, KL between
seeds, steps and sizes, aggregates, the study tables, phases, regressions."""
