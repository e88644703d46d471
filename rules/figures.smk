rule figure_kl_reference:
    input:
        "results/tables/{suite}/summary.parquet",
    output:
        **figure_outputs(
            "fig",
            "results/figures/{suite}/kl_reference.png",
            caption="../report/kl_reference.rst",
            category="Convergence",
            labels={"suite": "{suite}", "figure": "KL to references"},
        ),
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
        **figure_outputs(
            "fig",
            "results/figures/{suite}/kl_seeds.png",
            caption="../report/kl_seeds.rst",
            category="Divergence",
            labels={"suite": "{suite}", "figure": "KL between seeds"},
        ),
    log:
        "logs/figures/{suite}/kl_seeds.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_kl_seeds.py"


rule figure_regression:
    input:
        "results/regression/{suite}/coefficients.csv",
    output:
        **figure_outputs(
            "fig",
            "results/figures/{suite}/regression.png",
            caption="../report/regression.rst",
            category="Regression",
            labels={"suite": "{suite}", "figure": "coefficients"},
        ),
    log:
        "logs/figures/{suite}/regression.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
        metric=regression_metric_of,
    script:
        "../scripts/figure_regression.py"


rule figure_phases:
    input:
        curves="results/study/{suite}/curves.parquet",
        phases="results/study/{suite}/phases.parquet",
    output:
        **figure_outputs(
            "fig",
            "results/figures/{suite}/phases.png",
            caption="../report/phases.rst",
            category="Reference distributions and phases",
            labels={"suite": "{suite}", "figure": "phases"},
        ),
    log:
        "logs/figures/{suite}/phases.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_study.py"


rule figure_seed_divergence:
    input:
        curves="results/study/{suite}/curves.parquet",
    output:
        **figure_outputs(
            "fig",
            "results/figures/{suite}/seed_divergence.png",
            caption="../report/seed_divergence.rst",
            category="Seed divergence",
            labels={"suite": "{suite}", "figure": "both directions"},
        ),
    log:
        "logs/figures/{suite}/seed_divergence.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_study.py"


rule figure_seed_groups:
    input:
        groups="results/study/{suite}/seed_groups.parquet",
    output:
        **figure_outputs(
            "fig",
            "results/figures/{suite}/seed_groups.png",
            caption="../report/seed_groups.rst",
            category="Seed divergence",
            labels={"suite": "{suite}", "figure": "by subgroup"},
        ),
    log:
        "logs/figures/{suite}/seed_groups.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_study.py"


rule figure_sigma:
    input:
        sigma="results/study/{suite}/sigma.parquet",
    output:
        **figure_outputs(
            "fig",
            "results/figures/{suite}/sigma_{model}.png",
            caption="../report/sigma.rst",
            category="Relative divergence",
            labels={"suite": "{suite}", "figure": "sigma: {model}"},
        ),
    log:
        "logs/figures/{suite}/sigma_{model}.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
        min_tokens=config["regression"]["min_tag_count"],
        metric="kl_seeds",
    script:
        "../scripts/figure_study.py"


rule figure_learnability:
    input:
        sigma="results/study/{suite}/sigma.parquet",
    output:
        **figure_outputs(
            "fig",
            "results/figures/{suite}/learnability_{model}.png",
            caption="../report/learnability.rst",
            category="Learnability",
            labels={"suite": "{suite}", "figure": "sigma of step KL: {model}"},
        ),
    log:
        "logs/figures/{suite}/learnability_{model}.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
        min_tokens=config["regression"]["min_tag_count"],
        metric="kl_steps",
    script:
        "../scripts/figure_study.py"


rule figure_ce_fit:
    input:
        traj="results/study/{suite}/trajectories.parquet",
        fits="results/study/{suite}/ce_fit.parquet",
        dh="results/study/{suite}/dh_kl.parquet",
    output:
        **figure_outputs(
            "fig",
            "results/figures/{suite}/ce_fit.png",
            caption="../report/ce_fit.rst",
            category="Cross-entropy fitting",
            labels={"suite": "{suite}", "figure": "alpha Q + b"},
        ),
        **figure_outputs(
            "dh",
            "results/figures/{suite}/dh_kl.png",
            caption="../report/dh_kl.rst",
            category="Cross-entropy fitting",
            labels={"suite": "{suite}", "figure": "dH vs KL"},
        ),
    log:
        "logs/figures/{suite}/ce_fit.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_study.py"


rule figure_sizes:
    input:
        sizes="results/study/{suite}/sizes.parquet",
    output:
        **figure_outputs(
            "fig",
            "results/figures/{suite}/sizes.png",
            caption="../report/sizes.rst",
            category="Cross-size divergence",
            labels={"suite": "{suite}", "figure": "KL between sizes"},
        ),
    log:
        "logs/figures/{suite}/sizes.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_study.py"
