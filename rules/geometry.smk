rule transfer_tokens:
    """The second corpus of the layer classifier's transfer test (default moby-dick, npm), cut into
    windows with the suite's tokenizer."""
    input:
        local=targets.transfer_local(config),
        tokenizer=get_tokenizer,
    output:
        "results/geometry/{suite}/transfer_tokens.parquet",
    log:
        "logs/transfer_tokens/{suite}.log",
    priority: targets.PREP_PRIORITY
    group:
        "prepare"
    conda:
        "../envs/torch.yaml"
    params:
        source=config["geometry"]["transfer"]["source"],
        path=config["geometry"]["transfer"]["path"],
        n_docs=config["geometry"]["transfer"]["n_docs"],
        seed=config["geometry"]["seed"],
        context_length=config["tokens"]["context_length"],
        windows_per_doc=config["tokens"]["windows_per_doc"],
        cache="resources/npm",
    script:
        "../scripts/transfer_tokens.py"


rule geometry_suite:
    """All runs of a suite in one table per kind (parquet and CSV) (figures: figure_geometry)."""
    input:
        unpack(get_family_run_tables("geometry")),
    output:
        **{
            name: f"results/geometry/{{suite}}/{name}.csv"
            for name in targets.GEOMETRY_TABLES
        },
        **{
            f"{name}_parquet": f"results/geometry/{{suite}}/{name}.parquet"
            for name in targets.GEOMETRY_TABLES
        },
    log:
        "logs/geometry_suite/{suite}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=get_suite_resources("geometry")[0],
        runtime=get_suite_resources("geometry")[1],
    params:
        suite="{suite}",
        steps=get_analysis_steps,
        entries=get_family_entries("geometry"),
    script:
        "../scripts/geometry_suite.py"


rule figure_geometry:
    """The geometry figures, from the suite tables (a figures: option reruns only this)."""
    input:
        **{
            name: f"results/geometry/{{suite}}/{name}.parquet"
            for name in targets.GEOMETRY_TABLES
        },
    output:
        **get_figure_outputs(
            "accuracy_fig",
            "results/figures/{suite}/geometry_accuracy.png",
            caption="../report/geometry_accuracy.rst",
            category="Layer geometry",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "accuracy"},
        ),
        **get_figure_outputs(
            "norms_fig",
            "results/figures/{suite}/geometry_norms.png",
            caption="../report/geometry_norms.rst",
            category="Layer geometry",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "norms"},
        ),
        **get_figure_outputs(
            "pca_fig",
            "results/figures/{suite}/geometry_pca.png",
            caption="../report/geometry_pca.rst",
            category="Layer geometry",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "PCA"},
        ),
        **get_figure_outputs(
            "attribution_fig",
            "results/figures/{suite}/geometry_attribution.png",
            caption="../report/geometry_attribution.rst",
            category="Layer geometry",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "attribution and length"},
        ),
    log:
        "logs/figures/{suite}/geometry.log",
    group:
        "figures"
    conda:
        "../envs/data.yaml"
    params:
        suite="{suite}",
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_geometry.py"


rule geometry:
    """`snakemake geometry`: every suite's layer geometry tables and figures (an error saying so
    where families.geometry is false)."""
    input:
        get_family_targets("geometry"),
