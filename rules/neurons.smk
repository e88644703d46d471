rule neurons_run:
    """Token neurons of every sound checkpoint of one run, in one process: logit lens, activation
    patching per layer and per MLP neuron, neuron-token congruence, activation against prediction;
    each checkpoint's tables are kept in the result store (a rerun computes only what is missing).
    """
    input:
        run=checkpoint_run,
        integrity="results/integrity/{suite}/{model}/seed{seed}.csv",  # this run's
        tokens="results/tokens/{suite}.parquet",
        unigram="results/unigram/{suite}.parquet",
        tokenizer=tokenizer_dir,
    output:
        **{
            name: f"results/neurons/{{suite}}/{{model}}/seed{{seed}}/{name}.parquet"
            for name in NEURON_TABLES
        },
    log:
        "logs/neurons_run/{suite}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/neurons_run/{suite}/{model}/seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=config["metrics"]["mem_mb"],
        gpu=config["metrics"]["gpus"],
        runtime=config["metrics"]["runtime"],
    params:
        checkpoints=run_refs,
        task=get_task("neurons"),
        device=config["metrics"]["device"],
        dtype=config["metrics"]["dtype"],
        batch_size=config["metrics"]["batch_size"],
    script:
        "../scripts/neurons_run.py"


rule neurons_suite:
    """All runs of a suite in one table per kind (parquet and CSV) (figures: figure_neurons)."""
    input:
        unpack(neurons_run_tables),
    output:
        **{name: f"results/neurons/{{suite}}/{name}.csv" for name in NEURON_TABLES},
        **{
            f"{name}_parquet": f"results/neurons/{{suite}}/{name}.parquet"
            for name in NEURON_TABLES
        },
    log:
        "logs/neurons_suite/{suite}.log",
    conda:
        "../envs/data.yaml"
    params:
        suite="{suite}",
        steps=suite_analysis_steps,
    script:
        "../scripts/neurons_suite.py"


rule figure_neurons:
    """The neurons figures, from the suite tables (a figures: option reruns only this)."""
    input:
        **{name: f"results/neurons/{{suite}}/{name}.parquet" for name in NEURON_TABLES},
    output:
        lens_fig=report(
            "results/figures/{suite}/neurons_lens.png",
            caption="../report/neurons_lens.rst",
            category="Token neurons",
            labels={"suite": "{suite}", "figure": "logit lens"},
        ),
        patching_fig=report(
            "results/figures/{suite}/neurons_patching.png",
            caption="../report/neurons_patching.rst",
            category="Token neurons",
            labels={"suite": "{suite}", "figure": "layer patching"},
        ),
        emergence_fig=report(
            "results/figures/{suite}/neurons_emergence.png",
            caption="../report/neurons_emergence.rst",
            category="Token neurons",
            labels={"suite": "{suite}", "figure": "emergence"},
        ),
        activation_fig=report(
            "results/figures/{suite}/neurons_activation.png",
            caption="../report/neurons_activation.rst",
            category="Token neurons",
            labels={"suite": "{suite}", "figure": "activation vs prediction"},
        ),
    log:
        "logs/figures/{suite}/neurons.log",
    conda:
        "../envs/data.yaml"
    params:
        suite="{suite}",
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_neurons.py"
