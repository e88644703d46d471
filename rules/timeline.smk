# The training timeline: every enabled family's events on one step axis, from the families' suite
# tables (the table, its key curves and one figure); in rule all and the report.
from lmdyn import timeline as timeline_jobs


rule timeline_suite:
    """Every family's events per run and per model (median and range over seeds), and the key
    curves they are read from (parquet and CSV)."""
    input:
        unpack(get_per_suite(timeline_jobs.inputs, tasks.enabled_families(config))),
    output:
        table="results/study/{suite}/timeline.parquet",
        csv="results/study/{suite}/timeline.csv",
        curves="results/study/{suite}/timeline_curves.parquet",
        curves_csv="results/study/{suite}/timeline_curves.csv",
    log:
        "logs/timeline_suite/{suite}.log",
    conda:
        "../envs/data.yaml"
    params:
        families=tasks.enabled_families(config),
    script:
        "../scripts/timeline_suite.py"


rule figure_timeline:
    """Every family's key curve scaled to [0, 1] on one log-step axis, the phases and the events."""
    input:
        table="results/study/{suite}/timeline.parquet",
        curves="results/study/{suite}/timeline_curves.parquet",
        phases="results/study/{suite}/phases.parquet",
    output:
        **get_figure_outputs(
            "fig",
            "results/figures/{suite}/timeline.png",
            caption="../report/timeline.rst",
            category="Training timeline",
            subcategory="Figures",
            labels={"suite": "{suite}", "figure": "timeline"},
        ),
    log:
        "logs/figures/{suite}/timeline.log",
    conda:
        "../envs/data.yaml"
    params:
        dpi=config["figures"]["dpi"],
    script:
        "../scripts/figure_timeline.py"


rule timeline:
    """`snakemake timeline`: every suite's timeline table and figure."""
    input:
        [
            f
            for s in config["suites"]
            for f in timeline_jobs.outputs(s, config["figures"]["formats"])
        ],
