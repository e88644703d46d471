"""Rule token_features: per predicted token features used by every breakdown."""

import pandas as pd

from lmdyn.core.runner import run
from lmdyn.core.tables import write
from lmdyn.data.features import token_features
from lmdyn.data.tables import FEATURES


def main(sm, log):
    feats = token_features(
        pd.read_parquet(sm.input.tokens),
        pd.read_parquet(sm.input.pos),
        pd.read_parquet(sm.input.unigram),
        sm.params.freq_bins,
    )
    log.info(
        "%d predicted tokens; frequency bins: %s",
        len(feats),
        feats.freq_bin.value_counts().sort_index().to_dict(),
    )
    write(FEATURES, feats, sm.output[0])


run(main, snakemake)  # noqa: F821
