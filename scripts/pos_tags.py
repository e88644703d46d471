"""Rule pos_tags: spaCy tags aligned to evaluation tokens."""

import pandas as pd

from lmdyn.core.runner import run
from lmdyn.core.tables import write
from lmdyn.data.pos import tag_documents
from lmdyn.data.tables import POS_TAGS


def main(sm, log):
    docs = pd.read_parquet(sm.input.docs)
    tokens = pd.read_parquet(sm.input.tokens)
    texts = dict(zip(docs.doc_id, docs.text))
    tags = tag_documents(texts, tokens, sm.params.model, batch_size=sm.params.batch_size, log=log)
    log.info("tag counts: %s", tags.tag.value_counts().head(10).to_dict())
    write(POS_TAGS, tags, sm.output[0])


run(main, snakemake)  # noqa: F821
