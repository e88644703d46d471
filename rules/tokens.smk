rule train_tokenizer:
    """Byte-level BPE for a micro suite, trained on the train split only; the train split encoded
    with it once, for every training run."""
    input:
        docs="results/corpus/docs.parquet",
    output:
        tokenizer=directory("results/tokenizer/trained/{suite}"),
        train_ids="results/tokens/{suite}.train.npz",
    log:
        "logs/train_tokenizer/{suite}.log",
    group:
        "prepare"
    conda:
        "../envs/torch.yaml"
    params:
        vocab_size=get_suite_setting("vocab_size"),
    script:
        "../scripts/train_tokenizer.py"


rule suite_tokenizer:
    """The tokenizer of a published suite, copied from its first checkpoint (by the commit its
    run's fetch_run resolved; no weights downloaded)."""
    input:
        hub=get_first_hub,
    output:
        directory("results/tokenizer/suite/{suite}"),
    log:
        "logs/suite_tokenizer/{suite}.log",
    group:
        "prepare"
    conda:
        "../envs/torch.yaml"
    params:
        checkpoint=get_first_ref,
    script:
        "../scripts/suite_tokenizer.py"


rule tokenize_eval:
    """Evaluation documents as token ids with character offsets, cut into context windows."""
    input:
        docs="results/corpus/docs.parquet",
        tokenizer=get_tokenizer,
    output:
        "results/tokens/{suite}.parquet",
    log:
        "logs/tokenize_eval/{suite}.log",
    priority: targets.PREP_PRIORITY
    group:
        "prepare"
    conda:
        "../envs/torch.yaml"
    params:
        context_length=config["tokens"]["context_length"],
        windows_per_doc=config["tokens"]["windows_per_doc"],
    script:
        "../scripts/tokenize_eval.py"


rule unigram:
    """Smoothed unigram distribution of the suite's tokenizer over the configured split."""
    input:
        docs="results/corpus/docs.parquet",
        tokenizer=get_tokenizer,
        train_ids=get_unigram_train_ids,
    output:
        "results/unigram/{suite}.parquet",
    log:
        "logs/unigram/{suite}.log",
    priority: targets.PREP_PRIORITY
    group:
        "prepare"
    conda:
        "../envs/torch.yaml"
    params:
        split=config["unigram"]["split"],
        ghost_count=config["unigram"]["ghost_count"],
    script:
        "../scripts/unigram.py"
