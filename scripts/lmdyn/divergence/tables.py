"""Tables of family 1, convergence and divergence: per-token metrics and pairs, summaries and
breakdowns, the study (curves, subgroups, sigma, phases, sizes) and the regression."""

from lmdyn.core.tables import (
    DOC_ID,
    MODEL,
    POSITION,
    SEED,
    SEED_MEAN,
    SEEDS,
    STEP,
    SUITE,
    Table,
)
from lmdyn.divergence.columns import GROUP, GROUPING, KL_AB, KL_BA, N_TOKENS, G, _f, _i, _s
from lmdyn.divergence.study_tables import (
    CE_FIT,
    CURVES,
    DH_KL,
    OUTLIERS,
    PHASES,
    SEED_GROUPS,
    SIGMA,
    SIZES,
    SKIPPED,
    STUDY_MODEL,
    TRAJECTORIES,
)

TITLE = "Convergence and divergence (`lmdyn.divergence`)"

# ---- per token --------------------------------------------------------------------------------------

METRICS = Table(
    "metrics.checkpoint",
    "metrics/{suite}/{model}/seed{seed}/step{step}.parquet",
    (
        DOC_ID,
        POSITION,
        _i("target_id", "the predicted token"),
        _f("nll", "cross-entropy of the actual next token: lse - z_y"),
        _f("entropy", "entropy of the predicted distribution"),
        _f("kl_uniform", "KL(p || uniform) = log|V| - entropy"),
        _f("kl_unigram", "KL(p || u), u the smoothed unigram distribution"),
    ),
    "One row per predicted token of one checkpoint: a hard link to the result store's entry, "
    "written by the run's checkpoint job (the folder `seed{seed}/` is its output).",
)
SEED_PAIRS = Table(
    "pairs.seeds",
    "pairs/{suite}/seeds_step{step}.parquet",
    (
        DOC_ID,
        POSITION,
        MODEL,
        _i("seed_a", "first seed of the pair"),
        _i("seed_b", "second seed (seed_a < seed_b)"),
        KL_AB,
        KL_BA,
    ),
    "KL between every seed pair of every model at the step, per token.",
)
STEP_PAIRS = Table(
    "pairs.steps",
    "pairs/{suite}/steps_step{step}.parquet",
    (
        DOC_ID,
        POSITION,
        MODEL,
        SEED,
        _i("step_a", "the model's previous analysed step", "steps"),
        _i("step_b", "this step", "steps"),
        KL_AB.but(meaning="KL(previous || current) at the token"),
        KL_BA.but(meaning="KL(current || previous) at the token"),
    ),
    "KL between each seed's step and its previous analysed step, per token (no rows at the first "
    "step).",
)
SIZE_PAIRS = Table(
    "pairs.sizes",
    "pairs/{suite}/sizes_step{step}.parquet",
    (
        DOC_ID,
        POSITION,
        SEED,
        _s("model_a", "first model (config order)"),
        _s("model_b", "second model"),
        KL_AB,
        KL_BA,
    ),
    "KL between model sizes at the same step and seed, per token (no rows at a step not analysed "
    "for every model).",
)

# ---- summary and breakdown --------------------------------------------------------------------------

SUMMARY = Table(
    "tables.summary",
    "tables/{suite}/summary.parquet",
    (
        SUITE,
        MODEL,
        SEED,
        STEP,
        N_TOKENS,
        _f("nll", "mean cross-entropy"),
        _f("entropy", "mean entropy"),
        _f("kl_uniform", "mean KL to the uniform distribution"),
        _f("kl_unigram", "mean KL to the unigram distribution"),
        _f(
            "kl_seeds",
            "mean KL between this seed and each other seed, both directions (NA with one seed)",
            nullable=True,
        ),
        _f(
            "kl_steps",
            "mean KL to the previous analysed step, both directions (NA at the first step)",
            nullable=True,
        ),
    ),
    "Means per checkpoint over the predicted tokens.",
    csv=True,
    float_format=G,
)
SUMMARY_MODEL = SUMMARY.derive(
    "tables.summary.model",
    "tables/{suite}/{model}/summary.parquet",
    "One model's rows of the summary (the suite table concatenates them).",
)
BREAKDOWN = Table(
    "tables.breakdown",
    "tables/{suite}/breakdown.parquet",
    (
        SUITE,
        MODEL,
        SEED_MEAN.but(meaning="seed of the run; NA for `kl_seeds` (over all seed pairs)"),
        SEEDS,
        STEP,
        _s("metric", "`nll`, `entropy`, `kl_uniform`, `kl_unigram`, `kl_steps` or `kl_seeds`"),
        GROUPING.but(meaning="`tag` (t), `tag_prev` (t-1), `freq_bin`, `bow` or `eow`"),
        GROUP,
        N_TOKENS.but(meaning="predicted tokens in the subgroup"),
        _f("mean", "mean of the metric over the subgroup"),
        _f(
            "sigma",
            "relative divergence: subgroup mean / mean over all tokens",
            unit="ratio",
            nullable=True,
        ),
    ),
    "Means per token subgroup and checkpoint (per model and step for `kl_seeds`).",
    csv=True,
    float_format=G,
)
BREAKDOWN_MODEL = BREAKDOWN.derive(
    "tables.breakdown.model",
    "tables/{suite}/{model}/breakdown.parquet",
    "One model's rows of the breakdown.",
)

# ---- regression -------------------------------------------------------------------------------------

COEFFICIENTS = Table(
    "regression.coefficients",
    "regression/{suite}/coefficients.parquet",
    (
        _s("term", "design column, e.g. `log_unigram`, `tag[NN]`, `model[micro-m]`"),
        _s("variable", "`intercept`, `log_unigram`, `tag`, `tag_prev`, `model` or `step`"),
        _s("level", "the factor level of the term (empty for a continuous term)"),
        _f("coef", "coefficient (nats per unit of the variable; a level against the reference)"),
        _f("se", "standard error clustered by token type", nullable=True),
        _f("ci_low", "lower bound of the 95% interval", nullable=True),
        _f("ci_high", "upper bound of the 95% interval", nullable=True),
        _f("p_value", "two-sided p-value", "", True),
        _i("n_obs", "token rows fitted"),
        _s("response", "the regressed per-token metric (`regression.metric`, or its fallback)"),
        STEP.but(meaning="the step fitted (`regression.step`)"),
    ),
    "OLS of per-token KL on log unigram frequency, tag (t), tag (t-1) and model size at one step.",
    csv=True,
    float_format=G,
)
POOLED = Table(
    "regression.pooled",
    "regression/{suite}/pooled.parquet",
    (
        *COEFFICIENTS.columns[:-1],
        STEP.but(nullable=True, meaning="NA: the fit spans several steps"),
        _s("fit", "`pooled`"),
        _i("n_steps", "steps in the fit"),
        _i("first_step", "first step in the fit", "steps"),
        _i("last_step", "last step in the fit", "steps"),
    ),
    "The same regression over every step except 0, with step fixed effects (reference: the first "
    "pooled step).",
    csv=True,
    float_format=G,
)
PHASE_FITS = POOLED.derive(
    "regression.phases",
    "regression/{suite}/phases.parquet",
    "One pooled fit per phase (`fit` = `uniform`, `unigram` or `contextual`, from the `seeds` = "
    "`mean` rows of `study.phases`), with step fixed effects when the phase spans more than one step.",
    swap=[_s("fit", "the phase: `uniform`, `unigram` or `contextual`")],
    csv=True,
    float_format=G,
)

TABLES = [
    METRICS,
    SEED_PAIRS,
    STEP_PAIRS,
    SIZE_PAIRS,
    SUMMARY,
    SUMMARY_MODEL,
    BREAKDOWN,
    BREAKDOWN_MODEL,
    CURVES,
    SEED_GROUPS,
    SIGMA,
    OUTLIERS,
    DH_KL,
    CE_FIT,
    TRAJECTORIES,
    PHASES,
    SIZES,
    SKIPPED,
    *STUDY_MODEL,
    COEFFICIENTS,
    POOLED,
    PHASE_FITS,
]
