rule fetch_run:
    """Resolve every planned checkpoint of one run from the hub's metadata (offline: the cache),
    nothing downloaded: missing branches and byte-identical weights (by the weight files' sha256),
    each hub checkpoint's commit and files kept for the run's job; one job per run."""
    input:
        get_run,
    output:
        table="results/integrity/{suite}/{model}/seed{seed}.csv",
        hub="results/integrity/{suite}/{model}/seed{seed}.hub.json",
    log:
        "logs/fetch_run/{suite}/{model}/seed{seed}.log",
    wildcard_constraints:
        suite=PUBLISHED_SUITES,  # a micro run's table is written by train_micro
    localrule: True  # metadata requests only (one per branch): seconds, not a submission
    conda:
        "../envs/torch.yaml"
    params:
        plan=get_run_refs,
    script:
        "../scripts/fetch_run.py"


rule integrity:
    """All runs' integrity tables in one: missing checkpoints and steps whose weights are
    byte-identical to another step of the same run; the analysis rules read this table (through
    the run status checkpoint, which waits for it) and leave those checkpoints out (with a warning
    in the log)."""
    input:
        get_integrity_inputs,
    output:
        table="results/integrity/{suite}.csv",
    log:
        "logs/integrity/{suite}.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/integrity.py"


rule checkpoint_tasks:
    """Every enabled family's per-checkpoint tasks over one run (model x seed), in one process,
    each checkpoint downloaded and loaded at most once and only where a task's entry is missing
    from the result store (the next one downloading while the current one computes; a checkpoint
    this job downloaded is removed from the cache once its tasks are stored, unless the suite
    keeps its weights): per-token metrics, final hidden states and unembedding (linked into the
    run's folders), probe, anisotropy, layer states and geometry tables, token-neuron tables (the
    run's tables of each). A checkpoint that fails to download or load is recorded in the run's
    status table and skipped."""
    input:
        run=get_run,
        integrity="results/integrity/{suite}/{model}/seed{seed}.csv",  # this run's: it starts when its run is ready
        hub=get_run_hub,  # the commits and files fetch_run resolved
        tokens="results/tokens/{suite}.parquet",
        unigram="results/unigram/{suite}.parquet",
        tokenizer=get_tokenizer,
        transfer=get_transfer_tokens,
    output:
        **tasks.run_table_paths(tasks.enabled_families(config)),
        metrics=directory("results/metrics/{suite}/{model}/seed{seed}"),
        hidden=directory("results/hidden/{suite}/{model}/seed{seed}"),
        status="results/runs/{suite}/{model}/seed{seed}.csv",
    log:
        "logs/checkpoint_tasks/{suite}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/checkpoint_tasks/{suite}/{model}/seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: tasks.run_threads(config)
    resources:
        mem_mb=config["metrics"]["mem_mb"],
        gpu=config["metrics"]["gpus"],
        runtime=config["metrics"]["runtime"],
    params:
        checkpoints=get_run_refs,
        tasks=get_run_tasks,
        families=tasks.enabled_families(config),
        device=config["metrics"]["device"],
        dtype=config["metrics"]["dtype"],
        batch_size=config["metrics"]["batch_size"],
        prefetch=config["metrics"]["prefetch"],
        keep_weights=get_keep_weights,
    script:
        "../scripts/checkpoint_tasks.py"


rule task_identity:
    """What a family's tasks are (options and code versions), as a file: the jobs that read the
    checkpoint jobs' outputs take those as ancient inputs and this file as an input, so they rerun
    when their family's tasks change (an updated input, which Snakemake always follows) and never
    for another family's change."""
    output:
        "results/runs/{suite}.{family}.json",
    log:
        "logs/task_identity/{suite}.{family}.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        tasks=get_family_tasks,
    script:
        "../scripts/task_identity.py"


checkpoint run_status:
    """Every run's status table in one: the analysis leaves out a step whose checkpoint failed to
    load or whose metrics failed for any seed of a model (with the error in the run's log), like
    a checkpoint that is not sound."""
    input:
        # ancient: a checkpoint job rerun for another family rewrites its status table unchanged;
        # a status changes only with the checkpoints (the integrity tables) or the metrics task
        status=get_run_status_inputs,
        integrity=get_integrity_inputs,
        identity="results/runs/{suite}.divergence.json",
        # the one checkpoint: the jobs after it read the integrity table through it (jobs that
        # ask two checkpoints can drop out of the DAG Snakemake updates after them)
        suite_integrity="results/integrity/{suite}.csv",
    output:
        table="results/runs/{suite}.csv",
    log:
        "logs/run_status/{suite}.log",
    localrule: True
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/run_status.py"
