"""The shared core: config and validation, checkpoint registry, the per-checkpoint engine and its
result store, model internals, table specs, the figure toolkit, the rule-script runner."""
