"""Family 4, layer geometry: norms, PCA and the layer classifier."""

from lmdyn.core.store import TaskSpec

# The states of every layer on the sampled windows (and on the transfer corpus' windows).
LAYERS = TaskSpec(
    "layers",
    needs="forward",
    code=("geometry/states.py", "geometry/task.py", "core/internals.py", "core/forward.py"),
)
# The geometry tables of a checkpoint, from its stored states: no checkpoint is read.
GEOMETRY = TaskSpec(
    "geometry", needs="entry", source="layers", code=("geometry/compute.py", "geometry/task.py")
)
TABLES = ("accuracy", "attribution", "norms", "pca", "pca_variance")
