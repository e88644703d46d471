rule train_micro:
    """Train one micro-suite run (model size x seed); checkpoints in HF format at the grid steps."""
    input:
        docs="results/corpus/docs.parquet",
        tokenizer=tokenizer_dir,
    output:
        run=directory("results/checkpoints/{suite}/{model}/seed{seed}"),
        curve="results/training/{suite}/{model}/seed{seed}.tsv",
    log:
        "logs/train_micro/{suite}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/train_micro/{suite}/{model}/seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1  # one thread per run keeps training bit-reproducible; runs go in parallel
    resources:
        mem_mb=4000,
    params:
        arch=suite_arch,
        size=model_size,
        train=suite_train,
        steps=suite_steps,
        context_length=config["tokens"]["context_length"],
    script:
        "../scripts/train_micro.py"
