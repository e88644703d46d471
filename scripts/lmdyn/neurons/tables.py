"""Tables of family 5, token neurons: per run (from the checkpoint job) and for the suite."""

from lmdyn.core.tables import RUN_KEYS, Column, Table

TITLE = "Token neurons (`lmdyn.neurons`)"

G = "%.6g"
PROMPT = Column("prompt", "str", "", "name of the prompt pair (`neurons.prompts`)")
LAYER = Column("layer", "int", "", "block of the MLP neuron")
NEURON = Column("neuron", "int", "", "MLP neuron of the block")
TOKEN_ID = Column("token_id", "int", "", "token id")
TOKEN = Column("token", "str", "", "the token, decoded")
LOGIT_DIFF = Column("logit_diff", "float", "nats", "logit(a) - logit(b) at the last position")
RESTORED = Column(
    "restored",
    "float",
    "fraction",
    "(patched - corrupted) / (clean - corrupted) logit difference (NA where `small_gap`)",
    True,
)
SMALL_GAP = Column(
    "small_gap",
    "bool",
    "",
    "abs(clean - corrupted) logit difference below `neurons.min_gap`: the restored fraction is "
    "undefined (NA)",
)
CONGRUENCE = Column("congruence", "float", "", "W_out[l, n] . W_U[token] (W_U centred over tokens)")


def _t(name, columns, meaning):
    return Table(
        f"neurons.{name}",
        f"neurons/{{suite}}/{name}.parquet",
        (*RUN_KEYS, *columns),
        meaning,
        csv=True,
        float_format=G,
    )


SUITE_TABLES = [
    _t(
        "summary",
        (
            PROMPT,
            Column("target_a", "str", "", "target token a (`neurons.targets`)"),
            Column("target_b", "str", "", "target token b"),
            Column(
                "p_a_clean", "float", "probability", "P(a) at the last position of the clean prompt"
            ),
            Column("p_b_clean", "float", "probability", "P(b) there"),
            Column("logit_diff_clean", "float", "nats", "logit(a) - logit(b) there"),
            Column("p_a_corrupted", "float", "probability", "P(a) on the corrupted prompt"),
            Column("p_b_corrupted", "float", "probability", "P(b) on the corrupted prompt"),
            Column(
                "logit_diff_corrupted",
                "float",
                "nats",
                "logit(a) - logit(b) on the corrupted prompt",
            ),
            SMALL_GAP,
        ),
        "The prompt pairs' predictions per checkpoint.",
    ),
    _t(
        "lens",
        (
            PROMPT,
            Column("layer", "int", "", "0 = embedding, l = after block l-1"),
            Column("name", "str", "", "`embed` or `block{l-1}`"),
            LOGIT_DIFF.but(meaning="logit difference read from the layer's residual stream"),
            Column(
                "mode",
                "str",
                "",
                "`per_layer` (final norm recomputed per layer) or `final_scale` (divided by the "
                "final layer's norm scale, as the original)",
            ),
        ),
        "Logit lens of the clean prompt.",
    ),
    _t(
        "layer_patch",
        (
            PROMPT,
            Column("component", "str", "", "`resid_pre`, `attn_out` or `mlp_out`"),
            Column("layer", "int", "", "block patched"),
            Column("position", "int", "tokens", "prompt position patched"),
            LOGIT_DIFF.but(meaning="logit difference of the patched corrupted run"),
            RESTORED,
            SMALL_GAP,
            TOKEN.but(meaning="the clean prompt's token at the position"),
        ),
        "Activation patching per component, layer and position (clean into corrupted).",
    ),
    _t(
        "neuron_patch",
        (
            PROMPT,
            LAYER,
            NEURON.but(meaning="MLP neuron of the block (-1 = the whole layer)"),
            LOGIT_DIFF.but(meaning="logit difference of the patched corrupted run"),
            RESTORED,
            SMALL_GAP,
        ),
        "Patching single MLP neurons: post-activation set to its clean value at every position.",
    ),
    _t(
        "top_neuron",
        (
            PROMPT,
            LAYER,
            NEURON,
            RESTORED.but(meaning="share of the logit difference the neuron restores"),
            Column("layer_restored", "float", "fraction", "share its whole layer restores", True),
            Column("congruence_a", "float", "", "the neuron's congruence with target a"),
            Column("congruence_b", "float", "", "the neuron's congruence with target b"),
            Column(
                "rank_a", "int", "", "rank of target a among all tokens by congruence (1 = top)"
            ),
            Column("congruence_mean", "float", "", "mean congruence over all tokens"),
            Column(
                "congruence_std", "float", "", "standard deviation of the congruence over tokens"
            ),
        ),
        "The neuron that restores most, per checkpoint and prompt (none where the restored "
        "fraction is undefined, `small_gap`).",
    ),
    _t(
        "outliers",
        (
            PROMPT,
            LAYER,
            NEURON,
            Column("rank", "int", "", "rank by congruence (1 = most congruent)"),
            TOKEN_ID,
            TOKEN,
            CONGRUENCE,
            Column("z", "float", "", "(congruence - mean) / std over all tokens"),
        ),
        "The top neuron's most congruent tokens.",
    ),
    _t(
        "exclusive",
        (
            Column("rank", "int", "", "rank by score (1 = best)"),
            LAYER,
            NEURON,
            TOKEN_ID,
            CONGRUENCE,
            Column("neuron_gap", "float", "", "congruence over the token's second-best neuron"),
            Column("token_gap", "float", "", "congruence over the neuron's second-best token"),
            Column("score", "float", "", "neuron_gap x token_gap"),
            TOKEN,
        ),
        "The most mutually exclusive neuron-token pairs (`neurons.top_pairs`).",
    ),
    _t(
        "target_congruence",
        (
            LAYER,
            NEURON,
            Column(
                "congruence_a", "float", "", "W_out[l, n] . W_U[target a] (W_U centred over tokens)"
            ),
            Column("congruence_b", "float", "", "W_out[l, n] . W_U[target b]"),
        ),
        "Every neuron's congruence with both targets.",
    ),
    _t(
        "activation",
        (
            LAYER,
            NEURON,
            TOKEN_ID,
            Column(
                "bin",
                "int",
                "",
                "activation bin (`neurons.n_bins` equal bins over the observed range)",
            ),
            Column("act_low", "float", "", "lower edge of the bin"),
            Column("act_high", "float", "", "upper edge of the bin"),
            Column("count", "int", "", "positions in the bin"),
            Column("hits", "int", "", "those positions whose top-1 prediction is the token"),
            Column(
                "top1_share",
                "float",
                "fraction",
                "share of those positions whose top-1 prediction is the token (NA for an empty bin)",
                True,
            ),
            Column(
                "no_hit",
                "bool",
                "",
                "the token is the top-1 prediction at no position of any bin (the curve shows "
                "nothing, not zeros)",
            ),
            Column(
                "source", "str", "", "why the pair is shown (top patched neuron, exclusive pair)"
            ),
            TOKEN,
        ),
        "A neuron's activation against the model predicting its token, over `neurons.n_windows` "
        "evaluation windows.",
    ),
]
# The run's tables the checkpoint job writes (its output name -> spec).
RUN_TABLES = {
    f"neurons_{t.name.split('.')[1]}": t.derive(
        f"{t.name}.run",
        f"neurons/{{suite}}/{{model}}/seed{{seed}}/{t.name.split('.')[1]}.parquet",
        "The same for one run, at every step sound in the run (the suite table keeps the steps "
        "analysed for every seed).",
        drop=["suite"],
    )
    for t in SUITE_TABLES
}

TABLES = [*SUITE_TABLES, *RUN_TABLES.values()]
