rule pos_tags:
    """spaCy tags of the words behind every evaluation token, aligned by character offsets."""
    input:
        docs="results/corpus/docs.parquet",
        tokens="results/tokens/{suite}.parquet",
    output:
        "results/pos/{suite}.parquet",
    log:
        "logs/pos_tags/{suite}.log",
    benchmark:
        "benchmarks/pos_tags/{suite}.tsv"
    group:
        "prepare"
    conda:
        "../envs/nlp.yaml"
    params:
        model=config["pos"]["spacy_model"],
        batch_size=config["pos"]["batch_size"],
    script:
        "../scripts/pos_tags.py"


rule token_features:
    """One row per predicted token: target and context tags, word boundaries, log unigram, frequency bin."""
    input:
        tokens="results/tokens/{suite}.parquet",
        pos="results/pos/{suite}.parquet",
        unigram="results/unigram/{suite}.parquet",
    output:
        "results/features/{suite}.parquet",
    log:
        "logs/token_features/{suite}.log",
    group:
        "prepare"
    conda:
        "../envs/data.yaml"
    params:
        freq_bins=config["aggregate"]["freq_bins"],
    script:
        "../scripts/token_features.py"
