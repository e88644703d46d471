rule anisotropy_run:
    """Embedding anisotropy at every analysed step of one run (model x seed), one process; each
    checkpoint's results are kept and reused when the run is extended."""
    input:
        run=checkpoint_run,
        integrity="results/integrity/{suite}/{model}/seed{seed}.csv",  # this run's
        unigram="results/unigram/{suite}.parquet",
    output:
        stats="results/anisotropy/{suite}/{model}/seed{seed}.parquet",
        hist="results/anisotropy/{suite}/{model}/seed{seed}_hist.parquet",
    log:
        "logs/anisotropy_run/{suite}/{model}/seed{seed}.log",
    benchmark:
        "benchmarks/anisotropy_run/{suite}/{model}/seed{seed}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["anisotropy"]["threads"]
    resources:
        mem_mb=config["anisotropy"]["mem_mb"],
        runtime=config["anisotropy"]["runtime"],
    params:
        plan=run_refs,
        cache=weights_cache_anisotropy,
        sample=config["anisotropy"]["sample"],
        sample_seed=config["anisotropy"]["seed"],
        bins=config["anisotropy"]["bins"],
    script:
        "../scripts/anisotropy_run.py"


rule anisotropy_suite:
    """Suite tables of embedding anisotropy (parquet and CSV)."""
    input:
        unpack(anisotropy_suite_inputs),
    output:
        table="results/anisotropy/{suite}/anisotropy.parquet",
        csv=report(
            "results/anisotropy/{suite}/anisotropy.csv",
            caption="../report/table_anisotropy.rst",
            category="Embedding anisotropy",
            labels={"suite": "{suite}", "table": "anisotropy"},
        ),
        hist="results/anisotropy/{suite}/histograms.parquet",
        hist_csv="results/anisotropy/{suite}/histograms.csv",
    log:
        "logs/anisotropy_suite/{suite}.log",
    conda:
        "../envs/data.yaml"
    params:
        steps=suite_sound_steps,
    script:
        "../scripts/anisotropy_suite.py"


rule figure_anisotropy:
    """Cosine histograms at the last step and mean cosine against step, raw and centred."""
    input:
        table="results/anisotropy/{suite}/anisotropy.parquet",
        hist="results/anisotropy/{suite}/histograms.parquet",
    output:
        **figure_outputs(
            "fig_hist",
            "results/figures/{suite}/anisotropy_hist.png",
            caption="../report/anisotropy_hist.rst",
            category="Embedding anisotropy",
            labels={"suite": "{suite}", "figure": "cosine histograms"},
        ),
        **figure_outputs(
            "fig_mean",
            "results/figures/{suite}/anisotropy_mean.png",
            caption="../report/anisotropy_mean.rst",
            category="Embedding anisotropy",
            labels={"suite": "{suite}", "figure": "mean cosine"},
        ),
    log:
        "logs/figures/{suite}/anisotropy.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_anisotropy.py"
