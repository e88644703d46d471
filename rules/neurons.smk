rule neurons_run:
    """Token neurons of every analysed checkpoint of one run, in one process: target probabilities,
    logit lens, layer and neuron patching, congruence and mutually exclusive neuron-token pairs,
    activation against the model's top-1 prediction."""
    input:
        integrity="results/integrity/{suite}.csv",
        run=checkpoint_run,
        tokens="results/tokens/{suite}.parquet",
        unigram="results/unigram/{suite}.parquet",
        tokenizer=tokenizer_dir,
        lib=workflow.source_path("../scripts/lmdyn/neurons.py"),
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
        checkpoints=run_checkpoints,
        model="{model}",
        seed_label="{seed}",
        device=config["metrics"]["device"],
        prompts=neurons_prompts,
        targets=neurons_targets,
        prepend_bos=neurons_bos,
        patch_layers=config["neurons"]["patch_layers"],
        max_patch_neurons=config["neurons"]["max_patch_neurons"],
        center_unembed=config["neurons"]["center_unembed"],
        top_pairs=config["neurons"]["top_pairs"],
        activation_pairs=config["neurons"]["activation_pairs"],
        n_bins=config["neurons"]["n_bins"],
        n_windows=config["neurons"]["n_windows"],
        vocab_chunk=config["neurons"]["vocab_chunk"],
        seed=config["geometry"]["seed"],
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
