"""Family 2, the unigram latent probe."""

from lmdyn.core.store import TaskSpec

PROBE = TaskSpec(
    "probe", needs="weights", code=("probe/compute.py", "probe/task.py", "core/internals.py")
)

# The run's tables the per-checkpoint job writes (rule checkpoint_tasks output -> path).
RUN_TABLES = {
    "probe": "results/probe/{suite}/{model}/seed{seed}.parquet",
    "probe_deciles": "results/probe/{suite}/{model}/seed{seed}_deciles.parquet",
    "probe_tokens": "results/probe/{suite}/{model}/seed{seed}_tokens.parquet",
}
