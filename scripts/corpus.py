"""Rule corpus: load the configured corpus and sample train/eval splits."""

import json

from lmdyn.core.runner import run
from lmdyn.core.tables import write
from lmdyn.data.corpus import NPM_CORPORA, load_corpus, split_documents
from lmdyn.data.tables import DOCS


def main(sm, log):
    p = sm.params
    docs = load_corpus(p.source, p.path, p.cache)
    log.info("%d documents read from %s", len(docs), p.path or p.source)
    sample = split_documents(docs, p.n_docs, p.n_eval, p.seed, min_chars=p.min_chars)
    counts = sample.split.value_counts().to_dict()
    log.info("sampled %s", counts)
    write(DOCS, sample, sm.output.docs)
    info = {
        "source": p.source,
        "path": p.path,
        "n_documents": int(len(docs)),
        "split_counts": counts,
        "seed": p.seed,
    }
    if p.source in NPM_CORPORA:
        info.update(NPM_CORPORA[p.source])
    with open(sm.output.info, "w") as f:
        json.dump(info, f, indent=2)


run(main, snakemake)  # noqa: F821
