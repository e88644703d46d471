"""Tables of family 4, layer geometry: per run (from the stored layer states) and for the suite."""

from lmdyn.core.tables import RUN_KEYS, Column, Table

TITLE = "Layer geometry (`lmdyn.geometry`)"

G = "%.6g"
LAYER = Column(
    "layer",
    "int",
    "",
    "class: 0 = embedding output, l = output of block l-1 (before the final norm)",
)
NAME = Column("name", "str", "", "`embed` or `block{l-1}`")
NORMALISED = Column("normalised", "bool", "", "every state unit-normalised before the PCA")

ACCURACY = Table(
    "geometry.accuracy",
    "geometry/{suite}/accuracy.parquet",
    (
        *RUN_KEYS,
        Column(
            "variant",
            "str",
            "",
            "`raw`, `normalised` (unit vectors), `control` (random vectors with each layer's "
            "norms), `transfer` (the raw classifier on the transfer corpus) or `length` (first L tokens)",
        ),
        Column(
            "split",
            "str",
            "",
            "`document` (no document on both sides), `vector` (the original's) or `corpus`",
        ),
        Column("n_tokens", "int", "tokens", "L, the first tokens of every window used"),
        Column("accuracy", "float", "fraction", "held-out accuracy of the layer classifier"),
        Column(
            "ci_low",
            "float",
            "fraction",
            "lower bound of the 95% bootstrap interval over test documents",
            True,
        ),
        Column("ci_high", "float", "fraction", "upper bound of that interval", True),
        Column("n_test", "int", "", "test states"),
        Column("n_test_docs", "int", "", "documents of the test states"),
        Column("chance", "float", "fraction", "1 / number of classes"),
        Column("n_train", "int", "", "training states"),
        Column("n_classes", "int", "", "classes: the embedding output and every block"),
    ),
    "The layer classifier (which layer a hidden state comes from) per checkpoint and variant.",
    csv=True,
    float_format=G,
)
ATTRIBUTION = Table(
    "geometry.attribution",
    "geometry/{suite}/attribution.parquet",
    (
        *RUN_KEYS,
        Column("dimension", "int", "", "input dimension of the hidden state"),
        Column(
            "share",
            "float",
            "fraction",
            "share of the summed absolute coefficients (standardised inputs)",
        ),
        Column("rank", "int", "", "rank of the dimension by share (1 = largest)"),
        Column("cumulative_share", "float", "fraction", "share of the dimensions up to this rank"),
    ),
    "Per-dimension attribution of the raw classifier (document split), per checkpoint.",
    csv=True,
    float_format=G,
)
NORMS = Table(
    "geometry.norms",
    "geometry/{suite}/norms.parquet",
    (
        *RUN_KEYS,
        LAYER,
        NAME,
        Column("norm_min", "float", "", "smallest L2 norm of the layer's states"),
        Column("norm_mean", "float", "", "mean L2 norm"),
        Column("norm_max", "float", "", "largest L2 norm"),
        Column("n", "int", "", "states of the layer"),
    ),
    "Hidden-state norms per checkpoint and layer.",
    csv=True,
    float_format=G,
)
PCA = Table(
    "geometry.pca",
    "geometry/{suite}/pca.parquet",
    (
        *RUN_KEYS,
        LAYER,
        NAME,
        NORMALISED,
        Column("pc1", "float", "", "first principal component (one basis for all layers)"),
        Column("pc2", "float", "", "second principal component"),
    ),
    "PCA of every layer's states in one basis: `geometry.pca_points` points per layer.",
    csv=True,
    float_format=G,
)
PCA_VARIANCE = Table(
    "geometry.pca_variance",
    "geometry/{suite}/pca_variance.parquet",
    (
        *RUN_KEYS,
        NORMALISED,
        Column("component", "int", "", "principal component (1 = first)"),
        Column("explained_ratio", "float", "fraction", "share of the variance it explains"),
    ),
    "Variance explained by the components of that PCA.",
    csv=True,
    float_format=G,
)
SUITE_TABLES = [ACCURACY, ATTRIBUTION, NORMS, PCA, PCA_VARIANCE]
# The run's tables the checkpoint job writes (its output name -> spec).
RUN_TABLES = {
    f"geometry_{t.name.split('.')[1]}": t.derive(
        f"{t.name}.run",
        t.path.replace("{suite}/", "{suite}/{model}/seed{seed}/"),
        "The same for one run, at every step sound in the run (the suite table keeps the steps "
        "analysed for every seed).",
        drop=["suite"],
    )
    for t in SUITE_TABLES
}

TABLES = [*SUITE_TABLES, *RUN_TABLES.values()]
