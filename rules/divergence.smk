# Family 1, convergence and divergence of output distributions: the pairs of every step, the model,
# suite and study tables, the regression, the figures, and the family's target rule.
rule pair_divergence:
    """Every per-token KL of a run of consecutive steps (a pair job, see metrics.pair_jobs), both
    directions, in one pass over each checkpoint's logits per step: all seed pairs of each model,
    each seed against its previous analysed step, and every pair of models at the same seed. Each
    step's tables are a store entry, computed only where missing (a step added recomputes that
    step and the next only); pair_tables links them to their files."""
    input:
        unpack(get_pair_inputs),
        identity="results/runs/{suite}.divergence.json",  # the metrics task (hidden: ancient)
        tokens="results/tokens/{suite}.parquet",
        unigram="results/unigram/{suite}.parquet",
    output:
        manifest="results/pairs/{suite}/jobs/block{block}.json",
    log:
        "logs/pair_divergence/{suite}/block{block}.log",
    benchmark:
        "benchmarks/pair_divergence/{suite}/block{block}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=get_pair_mem_mb,
        gpu=config["metrics"]["gpus"],
        runtime=get_pair_runtime,
    params:
        jobs=get_pair_job,
        checkpoints=get_pair_checkpoints,
        entries=get_pair_entries,
        device=config["metrics"]["device"],
        vocab_chunk=config["metrics"]["vocab_chunk"],
        token_chunk=config["metrics"]["token_chunk"],
        max_checkpoints=config["metrics"]["pair_checkpoints"],
    script:
        "../scripts/pair_divergence.py"


rule pair_tables:
    """One step's seed, step and size pair tables: hard links to its pair job's store entries
    (in the workflow's own process: no job start-up, no submission)."""
    input:
        # not ancient: Snakemake does not look at a job's params while a job before it is to run,
        # so only an updated input carries a rerun of the pair job on (a seed added)
        manifest=get_pair_manifest,
    output:
        seeds="results/pairs/{suite}/seeds_step{step}.parquet",
        steps="results/pairs/{suite}/steps_step{step}.parquet",
        sizes="results/pairs/{suite}/sizes_step{step}.parquet",
    log:
        "logs/pair_tables/{suite}/step{step}.log",
    localrule: True
    params:
        entry=get_pair_step_entry,
    run:
        divergence.link_pair_tables(input.manifest, wildcards.step, output)


rule model_tables:
    """One model's tables from one read of its per-token tables: means per seed and step, breakdowns
    by tag (t, t-1), frequency bin and word boundary, and the study (seed-averaged curves, subgroup
    seed divergence, sigma and learnability with bootstrap intervals, dH vs KL)."""
    input:
        unpack(get_model_inputs),
        identity="results/runs/{suite}.divergence.json",  # the metrics task (metrics: ancient)
        integrity="results/integrity/{suite}.csv",
        features="results/features/{suite}.parquet",
    output:
        **{
            name: f"results/study/{{suite}}/{{model}}/{name}.parquet"
            for name in divergence.STUDY_TABLES
        },
        summary="results/tables/{suite}/{model}/summary.parquet",
        breakdown="results/tables/{suite}/{model}/breakdown.parquet",
    log:
        "logs/model_tables/{suite}/{model}.log",
    benchmark:
        "benchmarks/model_tables/{suite}/{model}.tsv"
    group:
        "divergence_suite"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=get_model_tables_mem_mb,
        runtime=get_model_tables_runtime,
    params:
        files=get_model_files,
        entries=get_metrics_entries,
        n_boot=config["study"]["n_boot"],
        boot_seed=config["study"]["seed"],
        max_alpha=config["study"]["ce_fit_max_alpha"],
    script:
        "../scripts/model_tables.py"


rule suite_tables:
    """All models of a suite in one summary and one breakdown table (parquet and CSV)."""
    input:
        unpack(get_suite_tables),
    output:
        summary="results/tables/{suite}/summary.csv",
        breakdown="results/tables/{suite}/breakdown.csv",
        summary_parquet="results/tables/{suite}/summary.parquet",
        breakdown_parquet="results/tables/{suite}/breakdown.parquet",
    log:
        "logs/suite_tables/{suite}.log",
    group:
        "divergence_suite"
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/suite_tables.py"


rule study_suite:
    """Suite tables of every analysis (parquet and CSV), the phase table and the sigma outliers."""
    input:
        unpack(get_study_inputs),
    output:
        **get_reported(divergence.study_outputs()),
    log:
        "logs/study_suite/{suite}.log",
    group:
        "divergence_suite"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=get_model_tables_mem_mb,
        runtime=get_model_tables_runtime,
    params:
        sizes=get_size_files,
        skipped=get_skipped,
        min_tokens=config["regression"]["min_tag_count"],
        n_boot=config["study"]["n_boot"],
        boot_seed=config["study"]["seed"],
    script:
        "../scripts/study_suite.py"


rule regression:
    """KL ~ log unigram frequency + tag(t) + tag(t-1) + model size, SE clustered by token type.

    Fitted at one step, pooled over steps > 0 with step fixed effects, and within each phase.
    """
    input:
        identity="results/runs/{suite}.divergence.json",  # the metrics task (metrics: ancient)
        integrity="results/integrity/{suite}.csv",
        features="results/features/{suite}.parquet",
        values=get_regression_inputs,
        phases="results/study/{suite}/phases.csv",
    output:
        coefs="results/regression/{suite}/coefficients.csv",
        latex="results/regression/{suite}/coefficients.tex",
        parquet=multiext("results/regression/{suite}/", *divergence.REGRESSION_PARQUET),
        text="results/regression/{suite}/summary.txt",
        pooled="results/regression/{suite}/pooled.csv",
        phases="results/regression/{suite}/phases.csv",
    log:
        "logs/regression/{suite}.log",
    group:
        "divergence_suite"
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=get_regression_mem_mb,
        runtime=get_regression_runtime,
    params:
        metric=get_regression_metric,
        wanted_metric=config["regression"]["metric"],
        step=get_regression_step,
        files=get_regression_files,
        entries=get_metrics_entries,
        models=get_models,
        tag_reference=config["regression"]["tag_reference"],
        min_tag_count=config["regression"]["min_tag_count"],
        tokens_per_step=config["regression"]["tokens_per_step"],
    script:
        "../scripts/regression.py"


rule figure_kl_reference:
    input:
        "results/tables/{suite}/summary.parquet",
    output:
        **get_figure_outputs(
            "fig",
            "results/figures/{suite}/kl_reference.png",
            caption="../report/kl_reference.rst",
            category="Divergence",
            subcategory="Reference distributions and phases",
            labels={"suite": "{suite}", "figure": "KL to references"},
        ),
    log:
        "logs/figures/{suite}/kl_reference.log",
    group:
        "figures"
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
        **get_figure_outputs(
            "fig",
            "results/figures/{suite}/kl_seeds.png",
            caption="../report/kl_seeds.rst",
            category="Divergence",
            subcategory="Seed divergence",
            labels={"suite": "{suite}", "figure": "KL between seeds"},
        ),
    log:
        "logs/figures/{suite}/kl_seeds.log",
    group:
        "figures"
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
        **get_figure_outputs(
            "fig",
            "results/figures/{suite}/regression.png",
            caption="../report/regression.rst",
            category="Divergence",
            subcategory="Regression",
            labels={"suite": "{suite}", "figure": "coefficients"},
        ),
    log:
        "logs/figures/{suite}/regression.log",
    group:
        "figures"
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
        metric=get_regression_metric,
    script:
        "../scripts/figure_regression.py"


rule figure_phases:
    input:
        curves="results/study/{suite}/curves.parquet",
        phases="results/study/{suite}/phases.parquet",
    output:
        **get_figure_outputs(
            "fig",
            "results/figures/{suite}/phases.png",
            caption="../report/phases.rst",
            category="Divergence",
            subcategory="Reference distributions and phases",
            labels={"suite": "{suite}", "figure": "phases"},
        ),
    log:
        "logs/figures/{suite}/phases.log",
    group:
        "figures"
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
        **get_figure_outputs(
            "fig",
            "results/figures/{suite}/seed_divergence.png",
            caption="../report/seed_divergence.rst",
            category="Divergence",
            subcategory="Seed divergence",
            labels={"suite": "{suite}", "figure": "both directions"},
        ),
    log:
        "logs/figures/{suite}/seed_divergence.log",
    group:
        "figures"
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
        **get_figure_outputs(
            "fig",
            "results/figures/{suite}/seed_groups.png",
            caption="../report/seed_groups.rst",
            category="Divergence",
            subcategory="Seed divergence",
            labels={"suite": "{suite}", "figure": "by subgroup"},
        ),
    log:
        "logs/figures/{suite}/seed_groups.log",
    group:
        "figures"
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
        **get_figure_outputs(
            "fig",
            "results/figures/{suite}/sigma_{model}.png",
            caption="../report/sigma.rst",
            category="Divergence",
            subcategory="Relative divergence",
            labels={"suite": "{suite}", "figure": "sigma: {model}"},
        ),
    log:
        "logs/figures/{suite}/sigma_{model}.log",
    group:
        "figures"
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
        **get_figure_outputs(
            "fig",
            "results/figures/{suite}/learnability_{model}.png",
            caption="../report/learnability.rst",
            category="Divergence",
            subcategory="Relative divergence",
            labels={"suite": "{suite}", "figure": "sigma of step KL: {model}"},
        ),
    log:
        "logs/figures/{suite}/learnability_{model}.log",
    group:
        "figures"
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
        **get_figure_outputs(
            "fig",
            "results/figures/{suite}/ce_fit.png",
            caption="../report/ce_fit.rst",
            category="Divergence",
            subcategory="Cross-entropy fitting",
            labels={"suite": "{suite}", "figure": "alpha Q + b"},
        ),
        **get_figure_outputs(
            "dh",
            "results/figures/{suite}/dh_kl.png",
            caption="../report/dh_kl.rst",
            category="Divergence",
            subcategory="Cross-entropy fitting",
            labels={"suite": "{suite}", "figure": "dH vs KL"},
        ),
    log:
        "logs/figures/{suite}/ce_fit.log",
    group:
        "figures"
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
        **get_figure_outputs(
            "fig",
            "results/figures/{suite}/sizes.png",
            caption="../report/sizes.rst",
            category="Divergence",
            subcategory="Cross-size divergence",
            labels={"suite": "{suite}", "figure": "KL between sizes"},
        ),
    log:
        "logs/figures/{suite}/sizes.log",
    group:
        "figures"
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_study.py"


rule divergence:
    """`snakemake divergence`: every suite's summary, breakdown, study and regression tables and
    the family's figures."""
    input:
        get_family_targets("divergence"),
