rule size_divergence:
    """Per-token KL, both directions, between every pair of model sizes at one step, per seed."""
    input:
        integrity="results/integrity/{suite}.csv",
        hidden=size_hidden,
        runs=size_runs,
        tokens="results/tokens/{suite}.parquet",
        unigram="results/unigram/{suite}.parquet",
    output:
        "results/pairs/{suite}/sizes_step{step}.parquet",
    log:
        "logs/size_divergence/{suite}/step{step}.log",
    benchmark:
        "benchmarks/size_divergence/{suite}/step{step}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=config["metrics"]["mem_mb"],
        gpu=config["metrics"]["gpus"],
        runtime=config["metrics"]["runtime"],
    params:
        models=suite_models,
        seeds=suite_seeds,
        step=current_step,
        checkpoints=size_refs,
        device=config["metrics"]["device"],
        vocab_chunk=config["metrics"]["vocab_chunk"],
        token_chunk=config["metrics"]["token_chunk"],
    script:
        "../scripts/size_divergence.py"


rule study_model:
    """Seed-averaged curves, subgroup seed divergence, sigma and learnability with bootstrap intervals."""
    input:
        integrity="results/integrity/{suite}.csv",
        features="results/features/{suite}.parquet",
        metrics=model_metrics,
        seed_pairs=model_seed_pairs,
        step_pairs=model_step_pairs,
    output:
        **{
            name: f"results/study/{{suite}}/{{model}}/{name}.parquet"
            for name in STUDY_TABLES
        },
    log:
        "logs/study_model/{suite}/{model}.log",
    benchmark:
        "benchmarks/study_model/{suite}/{model}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        seeds=suite_seeds,
        steps=model_steps,
        n_boot=config["study"]["n_boot"],
        boot_seed=config["study"]["seed"],
    script:
        "../scripts/study_model.py"


rule study_suite:
    """Suite tables of every analysis (parquet and CSV), the phase table and the sigma outliers."""
    input:
        unpack(study_suite_inputs),
    output:
        **study_suite_outputs(),
    log:
        "logs/study_suite/{suite}.log",
    conda:
        "../envs/data.yaml"
    params:
        steps=suite_common_steps,
        skipped=suite_skipped,
        min_tokens=config["regression"]["min_tag_count"],
        n_boot=config["study"]["n_boot"],
        boot_seed=config["study"]["seed"],
    script:
        "../scripts/study_suite.py"
