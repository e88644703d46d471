"""Tables of the training timeline: every family's events per run and per model, and the key
curves they are read from."""

from lmdyn.core.tables import MODEL, SEED, SEED_MEAN, STEP, SUITE, Column, Table

TITLE = "Training timeline (`lmdyn.timeline`)"

G = "%.6g"
FAMILY = Column("family", "str", "", "the family the event or curve is read from")
CURVE = Column(
    "curve",
    "str",
    "",
    "the key curve: `kl_uniform`, `kl_unigram`, `nll`, `kl_seeds` (family 1), `kl_u_probe`, "
    "`mean_cos_W_E`, `mean_cos_W_U` (raw), `accuracy` (layer classifier), `congruence` or "
    "`restored` (the last step's top neuron)",
)

TIMELINE = Table(
    "study.timeline",
    "study/{suite}/timeline.parquet",
    (
        SUITE,
        MODEL,
        SEED_MEAN.but(meaning="seed of the run; NA on the rows over the model's seeds"),
        Column("seeds", "str", "", "`one` (the run `seed`'s) or `median` (over the model's seeds)"),
        FAMILY,
        Column("event", "str", "", "name of the event (docs/timeline.md states each rule)"),
        CURVE,
        Column("definition", "str", "", "the rule that places the event"),
        Column(
            "at_step",
            "float",
            "steps",
            "`one`: the grid step of the event; `median`: the median over the seeds that have "
            "it, in log2(step + 1) (a grid step with an odd count); NA where it does not happen",
            True,
        ),
        Column("step_min", "float", "steps", "`median`: the earliest seed's step", True),
        Column("step_max", "float", "steps", "`median`: the latest seed's step", True),
        Column(
            "value",
            "float",
            "",
            "the curve's value at the event (its own unit; `median`: the median over seeds)",
            True,
        ),
        Column("n_seeds", "int", "", "seeds that have the event (1 or 0 on `one` rows)"),
        Column("n_runs", "int", "", "seeds of the model"),
        Column("reason", "str", "", "why there is no step (NA where there is one)", True),
    ),
    "The step of every family's events per run and, over seeds, per model; a family switched off "
    "has no rows.",
    csv=True,
    float_format=G,
)
CURVES = Table(
    "study.timeline_curves",
    "study/{suite}/timeline_curves.parquet",
    (
        SUITE,
        MODEL,
        SEED,
        STEP,
        FAMILY,
        CURVE,
        Column("value", "float", "", "the curve (its own unit; NA where undefined)", True),
        Column(
            "scaled",
            "float",
            "fraction",
            "the run's curve mapped to [0, 1] (its minimum to 0, its maximum to 1) on the scale "
            "its event is defined on: log for `kl_u_probe`, linear otherwise",
            True,
        ),
    ),
    "The key curve of every family per run, as the timeline reads its events from them.",
    csv=True,
    float_format=G,
)
TABLES = [TIMELINE, CURVES]
