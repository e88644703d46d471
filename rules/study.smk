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
        sizes=size_files,
        skipped=suite_skipped,
        min_tokens=config["regression"]["min_tag_count"],
        n_boot=config["study"]["n_boot"],
        boot_seed=config["study"]["seed"],
    script:
        "../scripts/study_suite.py"
