rule neurons_suite:
    """All runs of a suite in one table per kind (parquet and CSV) (figures: figure_neurons)."""
    input:
        unpack(get_family_run_tables("neurons")),
    output:
        **{
            name: f"results/neurons/{{suite}}/{name}.csv"
            for name in targets.NEURON_TABLES
        },
        **{
            f"{name}_parquet": f"results/neurons/{{suite}}/{name}.parquet"
            for name in targets.NEURON_TABLES
        },
    log:
        "logs/neurons_suite/{suite}.log",
    conda:
        "../envs/data.yaml"
    resources:
        mem_mb=get_suite_resources("neurons")[0],
        runtime=get_suite_resources("neurons")[1],
    params:
        suite="{suite}",
        steps=get_analysis_steps,
        entries=get_family_entries("neurons"),
    script:
        "../scripts/neurons_suite.py"


rule figure_neurons:
    """The neurons figures, from the suite tables (a figures: option reruns only this)."""
    input:
        **{
            name: f"results/neurons/{{suite}}/{name}.parquet"
            for name in targets.NEURON_TABLES
        },
    output:
        **get_figure_outputs(
            "lens_fig",
            "results/figures/{suite}/neurons_lens.png",
            caption="../report/neurons_lens.rst",
            category="Token neurons",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "logit lens"},
        ),
        **get_figure_outputs(
            "patching_fig",
            "results/figures/{suite}/neurons_patching.png",
            caption="../report/neurons_patching.rst",
            category="Token neurons",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "layer patching"},
        ),
        **get_figure_outputs(
            "emergence_fig",
            "results/figures/{suite}/neurons_emergence.png",
            caption="../report/neurons_emergence.rst",
            category="Token neurons",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "emergence"},
        ),
        **get_figure_outputs(
            "activation_fig",
            "results/figures/{suite}/neurons_activation.png",
            caption="../report/neurons_activation.rst",
            category="Token neurons",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "activation vs prediction"},
        ),
    log:
        "logs/figures/{suite}/neurons.log",
    group:
        "figures"
    conda:
        "../envs/data.yaml"
    params:
        suite="{suite}",
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_neurons.py"


rule neurons:
    """`snakemake neurons`: every suite's token-neuron tables and figures (an error saying so where
    families.neurons is false)."""
    input:
        get_family_targets("neurons"),
