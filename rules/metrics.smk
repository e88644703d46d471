rule fetch_run:
    """Resolve (download unless offline) and hash every planned checkpoint of one run; runs are
    fetched in parallel, one job each."""
    input:
        checkpoint_run,
    output:
        "results/integrity/{suite}/{model}/seed{seed}.csv",
    log:
        "logs/fetch_run/{suite}/{model}/seed{seed}.log",
    wildcard_constraints:
        suite=PUBLISHED_SUITES,  # a micro run's table is written by train_micro
    conda:
        "../envs/torch.yaml"
    params:
        plan=run_refs,
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


rule divergence_run:
    """Family 1's per-checkpoint task over a whole run (model x seed), one process: per-token
    metrics and final hidden states of every sound checkpoint, kept in the result store (only the
    checkpoints whose entry is missing are loaded) and linked into the run's folders; a checkpoint
    that fails to load is recorded in the run's status table and skipped."""
    input:
        run=checkpoint_run,
        integrity="results/integrity/{suite}/{model}/seed{seed}.csv",  # this run's: it starts when its run is ready
        tokens="results/tokens/{suite}.parquet",
        unigram="results/unigram/{suite}.parquet",
    output:
        metrics=directory("results/metrics/{suite}/{model}/seed{seed}"),
        hidden=directory("results/hidden/{suite}/{model}/seed{seed}"),
        status="results/runs/{suite}/{model}/seed{seed}.csv",
    log:
        "logs/divergence_run/{suite}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/divergence_run/{suite}/{model}/seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=config["metrics"]["mem_mb"],
        gpu=config["metrics"]["gpus"],
        runtime=config["metrics"]["runtime"],
    params:
        checkpoints=run_refs,
        task=get_task("metrics"),
        device=config["metrics"]["device"],
        dtype=config["metrics"]["dtype"],
        batch_size=config["metrics"]["batch_size"],
        vocab_chunk=config["metrics"]["vocab_chunk"],
        token_chunk=config["metrics"]["token_chunk"],
    script:
        "../scripts/divergence_run.py"


checkpoint run_status:
    """Every run's status table in one: the analysis leaves out a step whose forward pass failed
    for any seed of a model (with the error in the run's log), like a checkpoint that is not sound.
    """
    input:
        run_status_inputs,
    output:
        table="results/runs/{suite}.csv",
    log:
        "logs/run_status/{suite}.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/run_status.py"


rule pair_divergence:
    """Every per-token KL of one step, both directions, in one pass over each checkpoint's logits:
    all seed pairs of each model, each seed against its previous analysed step, and every pair of
    models at the same seed."""
    input:
        unpack(pair_inputs),
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
