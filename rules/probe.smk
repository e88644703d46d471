rule probe_suite:
    """Suite tables of the unigram latent probe (parquet and CSV)."""
    input:
        unpack(get_family_run_tables("probe")),
    output:
        table="results/probe/{suite}/probe.parquet",
        csv="results/probe/{suite}/probe.csv",
        deciles="results/probe/{suite}/deciles.parquet",
        deciles_csv="results/probe/{suite}/deciles.csv",
        tokens="results/probe/{suite}/tokens.parquet",
    log:
        "logs/probe_suite/{suite}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=get_suite_resources("probe")[0],
        runtime=get_suite_resources("probe")[1],
    params:
        steps=get_analysis_steps,
        entries=get_family_entries("probe"),
    script:
        "../scripts/probe_suite.py"


rule figure_probe:
    """Probe KL against step, reconstructed against true log-frequency, PCA of the embeddings."""
    input:
        table="results/probe/{suite}/probe.parquet",
        tokens="results/probe/{suite}/tokens.parquet",
        tokenizer=get_tokenizer,
    output:
        **get_figure_outputs(
            "kl",
            "results/figures/{suite}/probe_kl.png",
            caption="../report/probe_kl.rst",
            category="Unigram probe",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "probe KL"},
        ),
        **get_figure_outputs(
            "scatter",
            "results/figures/{suite}/probe_scatter.png",
            caption="../report/probe_scatter.rst",
            category="Unigram probe",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "reconstructed frequencies"},
        ),
        **get_figure_outputs(
            "pca",
            "results/figures/{suite}/probe_pca.png",
            caption="../report/probe_pca.rst",
            category="Unigram probe",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "embedding PCA"},
        ),
    log:
        "logs/figures/{suite}/probe.log",
    group:
        "figures"
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_probe.py"


rule probe:
    """`snakemake probe`: every suite's probe tables and figures (an error saying so where
    families.probe is false)."""
    input:
        get_family_targets("probe"),
