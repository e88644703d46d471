"""Tables of family 2, the unigram latent probe: per checkpoint, per run and for the suite."""

from lmdyn.core.tables import RUN_KEYS, Column, Table

TITLE = "Unigram latent probe (`lmdyn.probe`)"

PROBE = Table(
    "probe",
    "probe/{suite}/probe.parquet",
    (
        *RUN_KEYS,
        Column("kl_u_probe", "float", "nats", "KL(u || probe)"),
        Column("kl_probe_u", "float", "nats", "KL(probe || u)"),
        Column(
            "loss", "float", "nats^2", "sum over the vocabulary of squared log-probability errors"
        ),
        Column("rmse", "float", "nats", "root mean squared log-probability error"),
        Column("iterations", "int", "", "Gauss-Newton (or, `published`, Adam) iterations"),
        Column(
            "converged",
            "bool",
            "",
            "the stopping rule was met (else `probe.max_iter` ran out); `published`: the last 1% "
            "of the Adam iterations lowered the loss by at most 1e-9 of it",
        ),
        Column("x_norm", "float", "", "norm of x*, the fitted latent"),
        Column("solver", "str", "", "`gauss_newton` or `published` (Adam, the original's recipe)"),
        Column("arch", "str", "", "model architecture (transformers `model_type`)"),
        Column("tied", "bool", "", "W_U is tied to W_E"),
    ),
    "One row per checkpoint: the latent x* whose unembedding best reproduces the unigram "
    "distribution u, and how well it does.",
    csv=True,
)
DECILES = Table(
    "probe.deciles",
    "probe/{suite}/deciles.parquet",
    (
        *RUN_KEYS,
        Column("decile", "int", "", "frequency decile of the vocabulary by u (0 = rarest tenth)"),
        Column("n_tokens", "int", "tokens", "vocabulary entries in the decile"),
        Column("mean_log_u", "float", "nats", "mean log u"),
        Column("mean_error", "float", "nats", "mean of log probe - log u"),
        Column("mean_abs_error", "float", "nats", "mean absolute error"),
        Column(
            "share_over_1nat",
            "float",
            "fraction",
            "share of tokens over-estimated by more than 1 nat",
        ),
    ),
    "Probe errors per checkpoint and frequency decile.",
    csv=True,
)
TOKENS = Table(
    "probe.tokens",
    "probe/{suite}/tokens.parquet",
    (
        *RUN_KEYS,
        Column("token_id", "int", "", "token id"),
        Column("log_u", "float", "nats", "log u of the token"),
        Column("log_probe", "float", "nats", "the probe's log-probability of the token"),
        Column(
            "pc1",
            "float",
            "",
            "first principal component of the token's W_E row (centred over tokens)",
        ),
        Column("pc2", "float", "", "second principal component"),
        Column("pc1_share", "float", "fraction", "variance explained by pc1"),
        Column("pc2_share", "float", "fraction", "variance explained by pc2"),
    ),
    "Per token, at each run's first and last analysed step.",
)
_RUN = "The same for one run: every step sound in the run (the suite table keeps the steps analysed for every seed)."
# The run's tables the checkpoint job writes (its output name -> spec).
RUN_TABLES = {
    "probe": PROBE.derive("probe.run", "probe/{suite}/{model}/seed{seed}.parquet", _RUN),
    "probe_deciles": DECILES.derive(
        "probe.deciles.run", "probe/{suite}/{model}/seed{seed}_deciles.parquet", _RUN
    ),
    "probe_tokens": TOKENS.derive(
        "probe.tokens.run", "probe/{suite}/{model}/seed{seed}_tokens.parquet", _RUN
    ),
}

TABLES = [PROBE, DECILES, TOKENS, *RUN_TABLES.values()]
