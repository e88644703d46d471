rule aggregate_model:
    """Means per seed and step, and breakdowns by tag (t, t-1), frequency bin and word boundary."""
    input:
        integrity="results/integrity/{suite}.csv",
        features="results/features/{suite}.parquet",
        metrics=model_metrics,
        seed_pairs=model_seed_pairs,
        step_pairs=model_step_pairs,
    output:
        summary="results/tables/{suite}/{model}/summary.parquet",
        breakdown="results/tables/{suite}/{model}/breakdown.parquet",
    log:
        "logs/aggregate_model/{suite}/{model}.log",
    conda:
        "../envs/data.yaml"
    params:
        seeds=suite_seeds,
        steps=model_steps,
    script:
        "../scripts/aggregate_model.py"


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
