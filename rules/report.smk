# The HTML report's table pages: every suite table (and the regression summary) as an HTML page,
# shown by the report's viewer (a CSV would only download). The CSV and parquet files stay the data.
# Light and many: on the machine running snakemake, never submitted to a cluster.
localrules:
    report_page,


rule report_page:
    """One table as an HTML page: its first rows, what it holds and what each column means."""
    input:
        lambda w: f"results/{w.page}",
    output:
        report(
            "results/report/{page}.html",
            caption="../report/table.rst",
            category=lambda w: report_pages.category(w.page),
            subcategory=lambda w: report_pages.subcategory(w.page),
            labels=lambda w: report_pages.labels(w.page),
        ),
    log:
        "logs/report_page/{page}.log",
    wildcard_constraints:
        page=r"[^/]+/.+\.(?:csv|txt)",
    conda:
        "../envs/data.yaml"
    params:
        rel=get_page_rel,
        caption=get_page_caption,
    script:
        "../scripts/report_page.py"
