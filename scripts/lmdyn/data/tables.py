"""Tables of the data stages: corpus, evaluation tokens, unigram, parts of speech, features, training."""

from lmdyn.core.tables import DOC_ID, POSITION, STEP, Column, Table

TITLE = "Data stages (`lmdyn.data`)"

TOKEN_ID = Column("token_id", "int", "", "token id in the suite's tokenizer")
WORD = Column(
    "word", "str", "", "the word (spaCy token) containing the token's first non-space character"
)
TAG = Column("tag", "str", "", "Penn tag of that word (`_SP` for whitespace-only tokens)")
POS = Column("pos", "str", "", "coarse (universal) tag of that word")
BOW = Column("bow", "bool", "", "the token begins a word")
EOW = Column("eow", "bool", "", "the token ends a word")

DOCS = Table(
    "corpus.docs",
    "corpus/docs.parquet",
    (
        DOC_ID.but(meaning="document id (0, 1, ... in corpus order)"),
        Column("title", "str", "", "title (or file name, or `file:line`)"),
        Column("text", "str", "", "the document's text"),
        Column("split", "str", "", "`train` or `eval` (whole documents, seeded)"),
    ),
    "The sampled documents of the corpus and their split.",
    extra="other columns between `text` and `split`: the source's metadata (e.g. `year, president, "
    "party` for sotu, any scalar field of a local file)",
)
_TOKEN_COLUMNS = (
    DOC_ID,
    Column("window", "int", "", "context window of the document (0, 1, ...)"),
    POSITION,
    TOKEN_ID,
    Column("start", "int", "characters", "character offset of the token in the document text"),
    Column("end", "int", "characters", "end of the token's characters (exclusive)"),
)
TOKENS = Table(
    "tokens",
    "tokens/{suite}.parquet",
    _TOKEN_COLUMNS,
    "The evaluation documents in the suite's tokens, cut into windows of `tokens.context_length`; "
    "the first token of every window is context only, every other token is predicted.",
)
TRANSFER_TOKENS = TOKENS.derive(
    "tokens.transfer",
    "geometry/{suite}/transfer_tokens.parquet",
    "The layer classifier's transfer corpus (`geometry.transfer`) in the suite's tokens, windowed "
    "the same way.",
)
UNIGRAM = Table(
    "unigram",
    "unigram/{suite}.parquet",
    (
        TOKEN_ID,
        Column("count", "int", "tokens", "occurrences in `unigram.split`"),
        Column(
            "prob", "float", "probability", "(count + ghost) / (total + ghost x vocabulary size)"
        ),
    ),
    "Ghost-count smoothed unigram distribution of the suite's tokenizer, one row per token.",
)
POS_TAGS = Table(
    "pos",
    "pos/{suite}.parquet",
    (DOC_ID, POSITION, WORD, TAG, POS, BOW, EOW),
    "spaCy tags of every evaluation token, aligned by character offsets.",
)
FEATURES = Table(
    "features",
    "features/{suite}.parquet",
    (
        DOC_ID,
        POSITION,
        Column("target_id", "int", "", "the predicted token"),
        Column("context_id", "int", "", "the token before it"),
        WORD,
        TAG,
        POS,
        BOW,
        EOW,
        Column("tag_prev", "str", "", "Penn tag of the context token (t-1)"),
        Column("pos_prev", "str", "", "coarse tag of the context token (t-1)"),
        Column("log_unigram", "float", "nats", "log of the target's smoothed unigram probability"),
        Column(
            "freq_bin",
            "int",
            "",
            "frequency bin of the target (0 = rarest; quantile bins over token occurrences, "
            "`aggregate.freq_bins`)",
        ),
    ),
    "One row per predicted token (the order of the metrics tables): what every breakdown groups by.",
)
TRAINING = Table(
    "training",
    "training/{suite}/{model}/seed{seed}.tsv",
    (
        STEP.but(meaning="optimizer step (1 = after the first update)"),
        Column("loss", "float", "nats", "training cross-entropy of the step's batch"),
        Column("lr", "float", "", "learning rate of the step"),
    ),
    "Loss curve of one micro-suite training run.",
)
TABLES = [DOCS, TOKENS, TRANSFER_TOKENS, UNIGRAM, POS_TAGS, FEATURES, TRAINING]
