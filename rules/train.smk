rule train_micro:
    """Train one micro-suite run (model size x seed); checkpoints in HF format at the grid steps,
    and the run's integrity table (as fetch_run writes for a published suite)."""
    input:
        train_ids="results/tokens/{suite}.train.npz",
        tokenizer=get_tokenizer,
    output:
        run=directory("results/checkpoints/{suite}/{model}/seed{seed}"),
        curve="results/training/{suite}/{model}/seed{seed}.tsv",
        integrity="results/integrity/{suite}/{model}/seed{seed}.csv",
    log:
        "logs/train_micro/{suite}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train_micro/{suite}/{model}/seed{seed}.tsv"
    wildcard_constraints:
        suite=MICRO_SUITES,
    priority: get_train_priority  # the longest runs first: the others and the analyses fill in around them
    conda:
        "../envs/torch.yaml"
    threads: 1  # one thread per run keeps training bit-reproducible; runs go in parallel
    resources:
        mem_mb=4000,
    params:
        arch=get_suite_setting("arch"),
        size=get_model_size,
        train=get_suite_setting("train"),
        steps=get_steps,
        plan=get_run_refs,
        context_length=config["tokens"]["context_length"],
    script:
        "../scripts/train_micro.py"
