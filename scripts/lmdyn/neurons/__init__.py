"""Family 5, token neurons: logit lens, activation patching, neuron-token congruence."""

from lmdyn.core.store import TaskSpec

NEURONS = TaskSpec("neurons", needs="model", code=("neurons/", "core/internals.py"))
TABLES = (
    "summary",
    "lens",
    "layer_patch",
    "neuron_patch",
    "top_neuron",
    "outliers",
    "exclusive",
    "target_congruence",
    "activation",
)

# The run's tables the per-checkpoint job writes (rule checkpoint_tasks output -> path).
RUN_TABLES = {
    f"neurons_{t}": f"results/neurons/{{suite}}/{{model}}/seed{{seed}}/{t}.parquet" for t in TABLES
}
