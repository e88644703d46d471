"""Tables of family 3, embedding anisotropy: per checkpoint, per run and for the suite."""

from lmdyn.core.tables import RUN_KEYS, Column, Table

TITLE = "Embedding anisotropy (`lmdyn.anisotropy`)"

MATRIX = Column("matrix", "str", "", "`W_E`, or `W_U` when it is not tied to W_E")
VARIANT = Column(
    "variant", "str", "", "`raw` or `centred` (the mean row over all tokens subtracted)"
)

STATS = Table(
    "anisotropy",
    "anisotropy/{suite}/anisotropy.parquet",
    (
        *RUN_KEYS,
        MATRIX,
        VARIANT,
        Column("n_pairs", "int", "", "distinct pairs of sampled rows"),
        Column("mean_cos", "float", "cosine", "mean pairwise cosine similarity"),
        Column("std_cos", "float", "cosine", "its standard deviation"),
        Column("q05_cos", "float", "cosine", "5% quantile"),
        Column("q50_cos", "float", "cosine", "median"),
        Column("q95_cos", "float", "cosine", "95% quantile"),
        Column("n_tokens", "int", "tokens", "rows of the matrix (vocabulary size)"),
        Column(
            "n_rows", "int", "", "rows sampled (`anisotropy.sample`, the same rows at every step)"
        ),
        Column(
            "mean_norm_ratio",
            "float",
            "ratio",
            "norm of the mean row / mean row norm (raw matrix, repeated on both variants)",
        ),
        Column(
            "median_cos_to_mean",
            "float",
            "cosine",
            "median cosine of a row with the mean row (raw matrix, repeated on both variants)",
        ),
        Column("arch", "str", "", "model architecture (transformers `model_type`)"),
        Column("tied", "bool", "", "W_U is tied to W_E"),
    ),
    "Pairwise cosine statistics of the rows of each embedding matrix, per checkpoint.",
    csv=True,
)
HIST = Table(
    "anisotropy.histograms",
    "anisotropy/{suite}/histograms.parquet",
    (
        *RUN_KEYS,
        VARIANT,
        Column("bin", "int", "", "bin index (`anisotropy.bins` equal bins on [-1, 1])"),
        Column("lo", "float", "cosine", "lower edge"),
        Column("hi", "float", "cosine", "upper edge"),
        Column("count", "int", "", "pairs of sampled rows in the bin"),
        MATRIX,
    ),
    "Histograms of the pairwise cosines, per checkpoint, matrix and variant.",
    csv=True,
)
_RUN = "The same for one run: every step sound in the run (the suite table keeps the steps analysed for every seed)."
# The run's tables the checkpoint job writes (its output name -> spec).
RUN_TABLES = {
    "anisotropy": STATS.derive(
        "anisotropy.run", "anisotropy/{suite}/{model}/seed{seed}.parquet", _RUN
    ),
    "anisotropy_hist": HIST.derive(
        "anisotropy.histograms.run", "anisotropy/{suite}/{model}/seed{seed}_hist.parquet", _RUN
    ),
}

TABLES = [STATS, HIST, *RUN_TABLES.values()]
