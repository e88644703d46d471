"""Family 3, embedding anisotropy."""

from lmdyn.core.store import TaskSpec

ANISOTROPY = TaskSpec(
    "anisotropy",
    needs="weights",
    code=("anisotropy/compute.py", "anisotropy/task.py", "core/internals.py"),
)

# The run's tables the per-checkpoint job writes (rule checkpoint_tasks output -> path).
RUN_TABLES = {
    "anisotropy": "results/anisotropy/{suite}/{model}/seed{seed}.parquet",
    "anisotropy_hist": "results/anisotropy/{suite}/{model}/seed{seed}_hist.parquet",
}
