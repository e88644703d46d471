rule regression:
    """KL ~ log unigram frequency + tag(t) + tag(t-1) + model size, SE clustered by token type."""
    input:
        features="results/features/{suite}.parquet",
        values=regression_inputs,
    output:
        coefs=report(
            "results/regression/{suite}/coefficients.csv",
            caption="../report/regression_table.rst",
            category="Regression",
            labels={"suite": "{suite}", "table": "coefficients"},
        ),
        latex="results/regression/{suite}/coefficients.tex",
        text=report(
            "results/regression/{suite}/summary.txt",
            caption="../report/regression_summary.rst",
            category="Regression",
            labels={"suite": "{suite}", "table": "summary"},
        ),
    log:
        "logs/regression/{suite}.log",
    conda:
        "../envs/data.yaml"
    params:
        metric=config["regression"]["metric"],
        step=regression_step_of,
        models=suite_models,
        tag_reference=config["regression"]["tag_reference"],
        min_tag_count=config["regression"]["min_tag_count"],
    script:
        "../scripts/regression.py"
