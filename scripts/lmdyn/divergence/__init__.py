"""Family 1, convergence and divergence of output distributions: per-token metrics, KL between
seeds, steps and sizes, aggregates, the study tables, phases, regressions."""

from lmdyn.core.store import TaskSpec

# The per-checkpoint task: per-token metrics and final hidden states (the pairs' KL reads these).
METRICS = TaskSpec(
    "metrics",
    needs="forward",
    code=("divergence/metrics.py", "divergence/task.py", "core/forward.py", "core/checkpoints.py"),
)
