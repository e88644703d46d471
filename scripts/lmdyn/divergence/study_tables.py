"""Tables of family 1's study: seed-averaged curves, subgroups, sigma, phases, sizes."""

from lmdyn.core.tables import MODEL, SEED, SEED_MEAN, SEEDS, STEP, SUITE, Column, Table
from lmdyn.divergence.columns import CI_HIGH, CI_LOW, GROUP, GROUPING, N_TOKENS, G, _f, _i, _s
from lmdyn.divergence.phases import CHANGE_POINTS

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
        _f(
            "alpha",
            "slope of the seed-KL trajectory on the cross-entropy trajectory (NA where degenerate)",
            "",
            True,
        ),
        _f("b", "intercept (NA where degenerate)", nullable=True),
        _f("r2", "R^2 of the fit", "", True),
        _i("n", "steps fitted"),
        _f("alpha_low", "lower bound of alpha's 95% interval (bootstrap over documents)", "", True),
        _f("alpha_high", "upper bound of alpha's 95% interval", "", True),
        _f("b_low", "lower bound of b's 95% interval", nullable=True),
        _f("b_high", "upper bound of b's 95% interval", nullable=True),
        _s(
            "degenerate",
            "why alpha and b are not reported (empty: they are): too few steps, no finite fit, "
            "abs(alpha) over `study.ce_fit_max_alpha`, or too few bootstrap replicates with a fit",
        ),
    ),
    "Cross-entropy fitting per subgroup, over the steps of `study.trajectories`, with intervals "
    "from a bootstrap over evaluation documents (`study.n_boot`, `study.seed`).",
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
