"""The training timeline: every family's events on one step axis, read from the families' suite
tables (no checkpoint is read)."""

from __future__ import annotations

# family -> {input name: its suite table under results/} (standard library only: rules/*.smk
# import this module while the DAG is built; tests check each path against its table's spec)
INPUTS = {
    "divergence": {
        "summary": "tables/{suite}/summary.parquet",
        "phases": "study/{suite}/phases.parquet",
    },
    "probe": {"probe": "probe/{suite}/probe.parquet"},
    "anisotropy": {"anisotropy": "anisotropy/{suite}/anisotropy.parquet"},
    "geometry": {"accuracy": "geometry/{suite}/accuracy.parquet"},
    "neurons": {
        name: f"neurons/{{suite}}/{name}.parquet"
        for name in ("top_neuron", "neuron_patch", "target_congruence")
    },
}
TABLE_NAMES = ("timeline", "timeline_curves")
FIGURE = "timeline"


def inputs(families, suite: str) -> dict[str, str]:
    """The rule's inputs: the suite tables (parquet) of every enabled family it reads."""
    return {
        name: "results/" + path.format(suite=suite)
        for f in families
        for name, path in INPUTS[f].items()
    }


def outputs(suite: str, formats) -> list[str]:
    """What rule all asks for: the timeline table (CSV) and figure in every format."""
    return [f"results/study/{suite}/timeline.csv"] + [
        f"results/figures/{suite}/{FIGURE}.{f}" for f in formats
    ]
