"""Column helpers and shared columns of family 1's tables."""

from lmdyn.core.tables import Column

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
