rule fetch_run:
    """Resolve (download unless offline) and hash every planned checkpoint of one run; runs are
    fetched in parallel, one job each."""
    input:
        checkpoint_run,
    output:
        "results/integrity/{suite}/{model}/seed{seed}.csv",
    log:
        "logs/fetch_run/{suite}/{model}/seed{seed}.log",
    conda:
        "../envs/torch.yaml"
    params:
        plan=run_plan,
    script:
        "../scripts/fetch_run.py"


checkpoint integrity:
    """All runs' integrity tables in one: missing checkpoints and steps whose weights are
    byte-identical to another step of the same run; the analysis rules read this table and leave
    those checkpoints out (with a warning in the log)."""
    input:
        integrity_inputs,
    output:
        table=report(
            "results/integrity/{suite}.csv",
            caption="../report/integrity.rst",
            category="Checkpoints",
            labels={"suite": "{suite}", "table": "integrity"},
        ),
    log:
        "logs/integrity/{suite}.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/integrity.py"


rule checkpoint_metrics:
    """One forward pass of a checkpoint: per-token metrics plus cached final hidden states."""
    input:
        run=checkpoint_run,
        tokens="results/tokens/{suite}.parquet",
        unigram="results/unigram/{suite}.parquet",
    output:
        metrics="results/metrics/{suite}/{model}/seed{seed}/step{step}.parquet",
        hidden="results/hidden/{suite}/{model}/seed{seed}/step{step}.npy",
    log:
        "logs/checkpoint_metrics/{suite}/{model}/seed{seed}/step{step}.log",
    benchmark:
        "benchmarks/checkpoint_metrics/{suite}/{model}/seed{seed}/step{step}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=config["metrics"]["mem_mb"],
        gpu=config["metrics"]["gpus"],
        runtime=config["metrics"]["runtime"],
    params:
        checkpoint=checkpoint_ref,
        device=config["metrics"]["device"],
        batch_size=config["metrics"]["batch_size"],
        vocab_chunk=config["metrics"]["vocab_chunk"],
        token_chunk=config["metrics"]["token_chunk"],
    script:
        "../scripts/checkpoint_metrics.py"


rule pair_divergence:
    """Per-token KL, both directions, between all seed pairs at a step and between each seed's
    step and its previous grid step; recomputed chunk-wise from cached hidden states."""
    input:
        integrity="results/integrity/{suite}.csv",
        hidden=pair_hidden,
        runs=pair_runs,
        tokens="results/tokens/{suite}.parquet",
        unigram="results/unigram/{suite}.parquet",
    output:
        seeds="results/pairs/{suite}/{model}/seeds_step{step}.parquet",
        steps="results/pairs/{suite}/{model}/steps_step{step}.parquet",
    log:
        "logs/pair_divergence/{suite}/{model}/step{step}.log",
    benchmark:
        "benchmarks/pair_divergence/{suite}/{model}/step{step}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=config["metrics"]["mem_mb"],
        gpu=config["metrics"]["gpus"],
        runtime=config["metrics"]["runtime"],
    params:
        seeds=suite_seeds,
        step=current_step,
        prev_step=prev_step,
        checkpoints=pair_refs,
        device=config["metrics"]["device"],
        vocab_chunk=config["metrics"]["vocab_chunk"],
        token_chunk=config["metrics"]["token_chunk"],
    script:
        "../scripts/pair_divergence.py"
