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
    Column,
    Table,
)
from lmdyn.divergence.phases import CHANGE_POINTS

TITLE = "Convergence and divergence (`lmdyn.divergence`)"

G = "%.6g"  # CSV copies of these tables keep 6 significant digits


def _f(name, meaning, unit="nats", nullable=False):
    return Column(name, "float", unit, meaning, nullable)


def _i(name, meaning, unit="", nullable=False):
    return Column(name, "int", unit, meaning, nullable)


def _s(name, meaning, nullable=False):
    return Column(name, "str", "", meaning, nullable)


N_TOKENS = _i("n_tokens", "predicted tokens averaged over", "tokens")
CI_LOW = _f(
    "ci_low", "lower bound of the 95% cluster-bootstrap interval over documents", nullable=True
)
CI_HIGH = _f("ci_high", "upper bound of that interval (NA with a single document)", nullable=True)
KL_AB = _f("kl_ab", "KL(a || b) at the token")
KL_BA = _f("kl_ba", "KL(b || a) at the token")
GROUPING = _s("grouping", "what the tokens are grouped by")
GROUP = _s("group", "the subgroup (a tag, a frequency bin, a word class, True/False)")

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
    "One row per predicted token of one checkpoint (written by the run pass; the folder "
    "`seed{seed}/` is the output of the run's job).",
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

# ---- the study ----------------------------------------------------------------------------------------

CURVES = Table(
    "study.curves",
    "study/{suite}/curves.parquet",
    (
        SUITE,
        MODEL,
        STEP,
        _s(
            "metric",
            "`nll`, `entropy`, `kl_uniform`, `kl_unigram`, `kl_seeds_ab`, `kl_seeds_ba`, "
            "`kl_seeds` or `kl_steps`",
        ),
        _f("mean", "mean over seeds (or seed pairs) and tokens"),
        CI_LOW,
        CI_HIGH,
        N_TOKENS,
        _f("seed_min", "lowest mean of one seed (or seed pair)"),
        _f("seed_max", "highest mean of one seed (or seed pair)"),
        _i("n_seeds", "seeds averaged over"),
    ),
    "Seed-averaged curves per model and step (values averaged over seeds per token first).",
    csv=True,
    float_format=G,
)
SEED_GROUPS = Table(
    "study.seed_groups",
    "study/{suite}/seed_groups.parquet",
    (
        SUITE,
        MODEL,
        STEP,
        _s("direction", "`ab` = KL(a || b), `ba` = KL(b || a), `mean` of both"),
        GROUPING.but(
            meaning="`freq_bin`, `class` (predicted token: noun = NN/NNS/NNP/NNPS, VBG, VBN, "
            "verb = other VB*, other) or `class_prev` (context token)"
        ),
        GROUP,
        _f("mean", "mean seed KL over the subgroup's tokens and every seed pair"),
        CI_LOW,
        CI_HIGH,
        N_TOKENS.but(meaning="predicted tokens in the subgroup"),
    ),
    "Seed KL by token subgroup.",
    csv=True,
    float_format=G,
)
SIGMA = Table(
    "study.sigma",
    "study/{suite}/sigma.parquet",
    (
        SUITE,
        MODEL,
        STEP,
        _s("metric", "`kl_seeds` (seed divergence) or `kl_steps` (learnability)"),
        GROUPING.but(meaning="`tag` (t) or `tag_prev` (t-1)"),
        GROUP,
        N_TOKENS.but(meaning="predicted tokens in the subgroup"),
        _f("sigma", "subgroup mean / mean over all tokens", unit="ratio", nullable=True),
        CI_LOW.but(unit="ratio"),
        CI_HIGH.but(unit="ratio"),
        Column("excludes_one", "bool", "", "the interval lies entirely above or below 1"),
    ),
    "Relative divergence of every tag.",
    csv=True,
    float_format=G,
)
OUTLIERS = Table(
    "study.outliers",
    "study/{suite}/outliers.parquet",
    (
        *SIGMA.columns,
        _s("examples", "the tag's most frequent words in the evaluation text"),
    ),
    "The rows of `study.sigma` whose interval excludes 1, for tags with at least "
    "`regression.min_tag_count` tokens.",
    csv=True,
    float_format=G,
)
DH_KL = Table(
    "study.dh_kl",
    "study/{suite}/dh_kl.parquet",
    (
        SUITE,
        MODEL,
        STEP,
        _f("p_high_dh_given_low_kl", "share of low-KL pairs with a high abs(dH)", "fraction"),
        _f("p_high_dh_overall", "share of all pairs with a high abs(dH)", "fraction"),
        _i("n_low_kl", "token pairs with low KL (its lowest 10%)"),
        _f("kl_cut", "KL below which a pair counts as low"),
        _f("dh_cut", "abs(dH) above which a pair counts as high (its median)"),
        _f("mean_abs_dh", "mean abs(dH)"),
        _f("corr_abs_dh_kl", "correlation of abs(dH) and KL", "", nullable=True),
    ),
    "Is a small cross-entropy difference needed for low KL? dH = cross-entropy difference of two "
    "seeds on one token, over every seed pair and direction.",
    csv=True,
    float_format=G,
)
CE_FIT = Table(
    "study.ce_fit",
    "study/{suite}/ce_fit.parquet",
    (
        SUITE,
        MODEL,
        GROUPING.but(meaning="`tag`, `freq_bin` or `class`"),
        GROUP,
        _s("form", "`difference` (kl ~ alpha nll + b) or `ratio` (both relative to step 0)"),
        _f("alpha", "slope of the seed-KL trajectory on the cross-entropy trajectory", "", True),
        _f("b", "intercept", nullable=True),
        _f("r2", "R^2 of the fit", "", True),
        _i("n", "steps fitted"),
    ),
    "Cross-entropy fitting per subgroup, over the steps of `study.trajectories`.",
    csv=True,
    float_format=G,
)
TRAJECTORIES = Table(
    "study.trajectories",
    "study/{suite}/trajectories.parquet",
    (
        SUITE,
        MODEL,
        STEP,
        GROUPING.but(meaning="`tag`, `freq_bin` or `class`"),
        GROUP,
        _f("kl_seeds", "mean seed KL of the subgroup"),
        _f("nll", "mean cross-entropy of the subgroup (seed-averaged)"),
    ),
    "The subgroup trajectories that `study.ce_fit` fits.",
    csv=True,
    float_format=G,
)


def _phase_columns():
    steps = "steps"
    cols = [
        SUITE,
        MODEL,
        SEED_MEAN,
        SEEDS,
        _f("uniform_end", "last step of the uniform phase", steps, True),
        _f("unigram_min", "step of minimum KL to unigram (after step 0)", steps, True),
        _f("contextual_onset", "first step with cross-entropy below the unigram's", steps, True),
        _f("contextual_onset_interp", "that crossing interpolated in log2(step + 1)", steps, True),
        _f("seed_peak", "step of maximum seed KL", steps, True),
        _f(
            "seed_return",
            "first later step half way back from the peak to the later minimum",
            steps,
            True,
        ),
        _f("uniform_end_value", "KL to uniform at uniform_end", nullable=True),
        _f("unigram_min_value", "KL to unigram at unigram_min", nullable=True),
        _f("contextual_onset_value", "cross-entropy at contextual_onset", nullable=True),
        _f("seed_peak_value", "seed KL at seed_peak", nullable=True),
        _f("seed_return_value", "seed KL at seed_return", nullable=True),
        _i("last_step", "last analysed step", steps),
        _f("uniform_band", "band of the uniform phase: max(0.05, 5% of the KL-to-uniform range)"),
        _s("interval", "mean rows: `bootstrap0.95` (over seeds, 3 or more) or `minmax`", True),
    ]
    for cp in CHANGE_POINTS:
        cols += [
            _f(f"{cp}_lo", f"mean rows: lower bound of {cp} over seeds", steps, True),
            _f(f"{cp}_hi", f"mean rows: upper bound of {cp} over seeds", steps, True),
            _f(f"{cp}_n", f"mean rows: seeds that reached {cp}", "", True),
        ]
    cols.append(
        _f(
            "unigram_cross_entropy",
            "the unigram predictor's cross-entropy on the evaluation tokens",
        )
    )
    return tuple(cols)


PHASES = Table(
    "study.phases",
    "study/{suite}/phases.parquet",
    _phase_columns(),
    "Phase change points per run (`seeds` = `one`) and per model (`seeds` = `mean`: means over "
    "seeds in log2(step + 1), with intervals); change points are grid steps, NA where not reached. "
    "Empty for a suite with one step.",
    csv=True,
    float_format=G,
)
SIZES = Table(
    "study.sizes",
    "study/{suite}/sizes.parquet",
    (
        SUITE,
        SEED,
        STEP,
        _s("model_a", "first model (config order)"),
        _s("model_b", "second model"),
        _s("direction", "`ab` = KL(model_a || model_b) or `ba`"),
        _f("mean", "mean over tokens"),
        CI_LOW,
        CI_HIGH,
        N_TOKENS,
    ),
    "KL between model sizes per step and seed.",
    csv=True,
    float_format=G,
)
SKIPPED = Table(
    "study.skipped",
    "study/{suite}/skipped.parquet",
    (
        SUITE,
        _s("comparison", "`seeds`, `steps`, `sizes` or `regression metric`"),
        _s("reason", "why the suite cannot have it"),
        _s("figures", "figures not produced"),
        _s("tables", "tables left empty"),
    ),
    "The comparisons the suite cannot have (no rows for a suite with two or more seeds, steps and "
    "sizes).",
    csv=True,
    float_format=G,
)
_MODEL_MEANING = "One model's rows of `{}` (the suite table concatenates them)."
STUDY_MODEL = [
    t.derive(
        f"{t.name}.model",
        t.path.replace("{suite}/", "{suite}/{model}/"),
        _MODEL_MEANING.format(t.name),
    )
    for t in (CURVES, SEED_GROUPS, SIGMA, DH_KL, CE_FIT, TRAJECTORIES)
]

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
