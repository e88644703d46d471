"""Family 3, embedding anisotropy."""

from lmdyn.core.store import TaskSpec

ANISOTROPY = TaskSpec(
    "anisotropy",
    needs="weights",
    code=("anisotropy/compute.py", "anisotropy/task.py", "core/internals.py"),
)
