"""Family 2, the unigram latent probe."""

from lmdyn.core.store import TaskSpec

PROBE = TaskSpec(
    "probe", needs="weights", code=("probe/compute.py", "probe/task.py", "core/internals.py")
)
