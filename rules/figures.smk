rule figure_kl_reference:
    input:
        "results/tables/{suite}/summary.parquet",
    output:
        png=report(
            "results/figures/{suite}/kl_reference.png",
            caption="../report/kl_reference.rst",
            category="Convergence",
            labels={"suite": "{suite}", "figure": "KL to references"},
        ),
        pdf="results/figures/{suite}/kl_reference.pdf",
    log:
        "logs/figures/{suite}/kl_reference.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_kl_reference.py"


rule figure_kl_seeds:
    input:
        "results/tables/{suite}/summary.parquet",
    output:
        png=report(
            "results/figures/{suite}/kl_seeds.png",
            caption="../report/kl_seeds.rst",
            category="Divergence",
            labels={"suite": "{suite}", "figure": "KL between seeds"},
        ),
        pdf="results/figures/{suite}/kl_seeds.pdf",
    log:
        "logs/figures/{suite}/kl_seeds.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_kl_seeds.py"


rule figure_sigma:
    input:
        "results/tables/{suite}/{model}/breakdown.parquet",
    output:
        png=report(
            "results/figures/{suite}/sigma_{model}.png",
            caption="../report/sigma.rst",
            category="Divergence",
            labels={"suite": "{suite}", "figure": "sigma by tag: {model}"},
        ),
        pdf="results/figures/{suite}/sigma_{model}.pdf",
    log:
        "logs/figures/{suite}/sigma_{model}.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
        min_tokens=config["regression"]["min_tag_count"],
    script:
        "../scripts/figure_sigma.py"


rule figure_regression:
    input:
        "results/regression/{suite}/coefficients.csv",
    output:
        png=report(
            "results/figures/{suite}/regression.png",
            caption="../report/regression.rst",
            category="Regression",
            labels={"suite": "{suite}", "figure": "coefficients"},
        ),
        pdf="results/figures/{suite}/regression.pdf",
    log:
        "logs/figures/{suite}/regression.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
        metric=config["regression"]["metric"],
    script:
        "../scripts/figure_regression.py"
