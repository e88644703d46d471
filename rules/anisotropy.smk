rule anisotropy_suite:
    """Suite tables of embedding anisotropy (parquet and CSV)."""
    input:
        unpack(get_family_run_tables("anisotropy")),
    output:
        table="results/anisotropy/{suite}/anisotropy.parquet",
        csv="results/anisotropy/{suite}/anisotropy.csv",
        hist="results/anisotropy/{suite}/histograms.parquet",
        hist_csv="results/anisotropy/{suite}/histograms.csv",
    log:
        "logs/anisotropy_suite/{suite}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=get_suite_resources("anisotropy")[0],
        runtime=get_suite_resources("anisotropy")[1],
    params:
        steps=get_analysis_steps,
        entries=get_family_entries("anisotropy"),
    script:
        "../scripts/anisotropy_suite.py"


rule figure_anisotropy:
    """Cosine histograms at the last step and mean cosine against step, raw and centred."""
    input:
        table="results/anisotropy/{suite}/anisotropy.parquet",
        hist="results/anisotropy/{suite}/histograms.parquet",
    output:
        **get_figure_outputs(
            "fig_hist",
            "results/figures/{suite}/anisotropy_hist.png",
            caption="../report/anisotropy_hist.rst",
            category="Embedding anisotropy",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "cosine histograms"},
        ),
        **get_figure_outputs(
            "fig_mean",
            "results/figures/{suite}/anisotropy_mean.png",
            caption="../report/anisotropy_mean.rst",
            category="Embedding anisotropy",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "mean cosine"},
        ),
    log:
        "logs/figures/{suite}/anisotropy.log",
    group:
        "figures"
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_anisotropy.py"


rule anisotropy:
    """`snakemake anisotropy`: every suite's anisotropy tables and figures (an error saying so where
    families.anisotropy is false)."""
    input:
        get_family_targets("anisotropy"),
