rule probe_run:
    """Unigram latent probe at every analysed step of one run (model x seed), one process; each
    checkpoint's results are kept and reused when the run is extended."""
    input:
        run=checkpoint_run,
        integrity="results/integrity/{suite}/{model}/seed{seed}.csv",  # this run's
        unigram="results/unigram/{suite}.parquet",
    output:
        probe="results/probe/{suite}/{model}/seed{seed}.parquet",
        deciles="results/probe/{suite}/{model}/seed{seed}_deciles.parquet",
        tokens="results/probe/{suite}/{model}/seed{seed}_tokens.parquet",
    log:
        "logs/probe_run/{suite}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/probe_run/{suite}/{model}/seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["probe"]["threads"]
    resources:
        mem_mb=config["probe"]["mem_mb"],
        runtime=config["probe"]["runtime"],
    params:
        plan=run_refs,
        cache=weights_cache_probe,
        max_iter=config["probe"]["max_iter"],
        rtol=config["probe"]["rtol"],
    script:
        "../scripts/probe_run.py"


rule probe_suite:
    """Suite tables of the unigram latent probe (parquet and CSV)."""
    input:
        unpack(probe_suite_inputs),
    output:
        table="results/probe/{suite}/probe.parquet",
        csv=report(
            "results/probe/{suite}/probe.csv",
            caption="../report/table_probe.rst",
            category="Unigram latent probe",
            labels={"suite": "{suite}", "table": "probe"},
        ),
        deciles="results/probe/{suite}/deciles.parquet",
        deciles_csv="results/probe/{suite}/deciles.csv",
        tokens="results/probe/{suite}/tokens.parquet",
    log:
        "logs/probe_suite/{suite}.log",
    conda:
        "../envs/data.yaml"
    params:
        steps=suite_sound_steps,
    script:
        "../scripts/probe_suite.py"


rule figure_probe:
    """Probe KL against step, reconstructed against true log-frequency, PCA of the embeddings."""
    input:
        table="results/probe/{suite}/probe.parquet",
        tokens="results/probe/{suite}/tokens.parquet",
        tokenizer=tokenizer_dir,
    output:
        **figure_outputs(
            "kl",
            "results/figures/{suite}/probe_kl.png",
            caption="../report/probe_kl.rst",
            category="Unigram latent probe",
            labels={"suite": "{suite}", "figure": "probe KL"},
        ),
        **figure_outputs(
            "scatter",
            "results/figures/{suite}/probe_scatter.png",
            caption="../report/probe_scatter.rst",
            category="Unigram latent probe",
            labels={"suite": "{suite}", "figure": "reconstructed frequencies"},
        ),
        **figure_outputs(
            "pca",
            "results/figures/{suite}/probe_pca.png",
            caption="../report/probe_pca.rst",
            category="Unigram latent probe",
            labels={"suite": "{suite}", "figure": "embedding PCA"},
        ),
    log:
        "logs/figures/{suite}/probe.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_probe.py"
