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
