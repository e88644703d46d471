rule pair_divergence:
    """Every per-token KL of one step, both directions, in one pass over each checkpoint's logits:
    all seed pairs of each model, each seed against its previous analysed step, and every pair of
    models at the same seed."""
    input:
        unpack(pair_inputs),
        identity="results/runs/{suite}.divergence.json",  # the metrics task (inputs are ancient)
        tokens="results/tokens/{suite}.parquet",
        unigram="results/unigram/{suite}.parquet",
    output:
        seeds="results/pairs/{suite}/seeds_step{step}.parquet",
        steps="results/pairs/{suite}/steps_step{step}.parquet",
        sizes="results/pairs/{suite}/sizes_step{step}.parquet",
    log:
        "logs/pair_divergence/{suite}/step{step}.log",
    benchmark:
        "benchmarks/pair_divergence/{suite}/step{step}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=config["metrics"]["mem_mb"],
        gpu=config["metrics"]["gpus"],
        runtime=config["metrics"]["runtime"],
    params:
        job=pair_job,
        checkpoints=pair_checkpoints,
        entries=get_pair_entries,  # what the hidden states are (inputs above are ancient)
        device=config["metrics"]["device"],
        vocab_chunk=config["metrics"]["vocab_chunk"],
        token_chunk=config["metrics"]["token_chunk"],
    script:
        "../scripts/pair_divergence.py"
