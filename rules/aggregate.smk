rule model_tables:
    """One model's tables from one read of its per-token tables: means per seed and step, breakdowns
    by tag (t, t-1), frequency bin and word boundary, and the study (seed-averaged curves, subgroup
    seed divergence, sigma and learnability with bootstrap intervals, dH vs KL)."""
    input:
        unpack(model_inputs),
        identity="results/runs/{suite}.divergence.json",  # the metrics task (inputs are ancient)
        integrity="results/integrity/{suite}.csv",
        features="results/features/{suite}.parquet",
    output:
        **{
            name: f"results/study/{{suite}}/{{model}}/{name}.parquet"
            for name in STUDY_TABLES
        },
        summary="results/tables/{suite}/{model}/summary.parquet",
        breakdown="results/tables/{suite}/{model}/breakdown.parquet",
    log:
        "logs/model_tables/{suite}/{model}.log",
    benchmark:
        "benchmarks/model_tables/{suite}/{model}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        files=model_files,
        entries=get_metrics_entries,  # what the per-token metrics are (inputs are ancient)
        n_boot=config["study"]["n_boot"],
        boot_seed=config["study"]["seed"],
    script:
        "../scripts/model_tables.py"


rule suite_tables:
    """All models of a suite in one summary and one breakdown table (parquet and CSV)."""
    input:
        unpack(suite_tables),
    output:
        summary=report(
            "results/tables/{suite}/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
            labels={"suite": "{suite}", "table": "summary"},
        ),
        breakdown="results/tables/{suite}/breakdown.csv",
        summary_parquet="results/tables/{suite}/summary.parquet",
        breakdown_parquet="results/tables/{suite}/breakdown.parquet",
    log:
        "logs/suite_tables/{suite}.log",
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/suite_tables.py"
