rule regression:
    """KL ~ log unigram frequency + tag(t) + tag(t-1) + model size, SE clustered by token type.

    Fitted at one step, pooled over steps > 0 with step fixed effects, and within each phase.
    """
    input:
        integrity="results/integrity/{suite}.csv",
        identity="results/runs/{suite}.divergence.json",  # the metrics task (inputs are ancient)
        features="results/features/{suite}.parquet",
        values=regression_inputs,
        phases="results/study/{suite}/phases.csv",
    output:
        coefs=report(
            "results/regression/{suite}/coefficients.csv",
            caption="../report/regression_table.rst",
            category="Regression",
            labels={"suite": "{suite}", "table": "coefficients"},
        ),
        latex="results/regression/{suite}/coefficients.tex",
        parquet=multiext("results/regression/{suite}/", *REGRESSION_PARQUET),
        text=report(
            "results/regression/{suite}/summary.txt",
            caption="../report/regression_summary.rst",
            category="Regression",
            labels={"suite": "{suite}", "table": "summary"},
        ),
        pooled=report(
            "results/regression/{suite}/pooled.csv",
            caption="../report/regression_pooled.rst",
            category="Regression",
            labels={"suite": "{suite}", "table": "pooled"},
        ),
        phases=report(
            "results/regression/{suite}/phases.csv",
            caption="../report/regression_phases.rst",
            category="Regression",
            labels={"suite": "{suite}", "table": "phases"},
        ),
    log:
        "logs/regression/{suite}.log",
    conda:
        "../envs/data.yaml"
    params:
        metric=regression_metric_of,
        wanted_metric=config["regression"]["metric"],
        step=regression_step_of,
        files=regression_files,
        entries=get_metrics_entries,  # what the per-token metrics are (inputs are ancient)
        models=suite_models,
        tag_reference=config["regression"]["tag_reference"],
        min_tag_count=config["regression"]["min_tag_count"],
        tokens_per_step=config["regression"]["tokens_per_step"],
    script:
        "../scripts/regression.py"
