"""The HTML report (``snakemake --report``): its categories, one per family and one for the data and
checkpoints, and every suite table as an HTML page (the report's viewer shows HTML; a CSV would
only download). The CSV and parquet files stay the data; the pages show them. Standard library
at import: rules/common.smk imports it (through lmdyn.core.targets) in every job."""

from __future__ import annotations

import html
from pathlib import Path

DATA = "Data and checkpoints"
CATEGORIES = {
    "data": DATA,
    "divergence": "Divergence",
    "probe": "Unigram probe",
    "anisotropy": "Embedding anisotropy",
    "geometry": "Layer geometry",
    "neurons": "Token neurons",
    "timeline": "Training timeline",  # every family's events on one step axis
}
# The folder under results/ a table lives in -> its family.
FOLDERS = {"integrity": "data", "runs": "data", "tables": "divergence", "study": "divergence"}
FOLDERS |= {"regression": "divergence"} | {
    f: f for f in CATEGORIES if f not in ("data", "timeline")
}
# Subcategories of the divergence family, shared by its figures and tables.
PHASES, SEEDS, SIGMA = (
    "Reference distributions and phases",
    "Seed divergence",
    "Relative divergence",
)
CE, SIZES, REGRESSION = "Cross-entropy fitting", "Cross-size divergence", "Regression"
DIVERGENCE_TABLES = {
    "curves": PHASES,
    "phases": PHASES,
    "seed_groups": SEEDS,
    "sigma": SIGMA,
    "outliers": SIGMA,
    "ce_fit": CE,
    "dh_kl": CE,
    "trajectories": CE,
    "sizes": SIZES,
}
# Outputs shown beside a table that is a target: the regression's other tables and its summary.
COMPANIONS = {
    "coefficients.csv": ("pooled.csv", "phases.csv", "summary.txt"),
    "probe.csv": ("deciles.csv",),
    "anisotropy.csv": ("histograms.csv",),
}
MAX_ROWS = 500  # rows shown on a page; the CSV has them all
PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; font-size: 13px; margin: 12px; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }}
th {{ background: #f0f0f0; position: sticky; top: 0; }}
.columns td {{ text-align: left; white-space: normal; }}
</style></head><body>
<h3>{title}</h3>
<p>{meaning}</p>
<p>{shown}</p>
{table}
{columns}
</body></html>
"""


def page_of(path: str) -> str:
    """The report page of an output under results/: results/report/<same path>.html."""
    return f"results/report/{Path(path).relative_to('results').as_posix()}.html"


def source_of(page: str) -> str:
    """The output a report page shows (the inverse of page_of)."""
    return "results/" + Path(page).relative_to("results/report").with_suffix("").as_posix()


def pages(outputs) -> list[str]:
    """The report pages of the suite tables among ``outputs`` (CSV files under results/) and of
    their companions; a run's own tables stay out (a suite table gathers them)."""
    out = []
    for f in outputs:
        p = Path(f)
        # suite tables only: results/<folder>/<suite>.csv or results/<folder>/<suite>/<name>.csv
        if p.suffix != ".csv" or len(p.parts) > 4 or p.parts[1] == "report":
            continue
        out += [page_of(f)] + [
            page_of((p.parent / c).as_posix()) for c in COMPANIONS.get(p.name, ())
        ]
    return list(dict.fromkeys(out))


def category(rel: str) -> str:
    """The report category of an output, from its path under results/ (``study/micro/curves.csv``)."""
    return CATEGORIES[_family(rel)]


def _family(rel: str) -> str:
    if rel.startswith("study/") and Path(rel).name.startswith("timeline"):
        return "timeline"  # beside the study tables, but of every family
    return FOLDERS[rel.split("/")[0]]


def subcategory(rel: str) -> str:
    """Within the divergence family, the analysis a table belongs to; elsewhere ``Tables``."""
    folder, name = rel.split("/")[0], Path(rel).stem
    if folder == "regression":
        return REGRESSION
    if folder == "study" and name in DIVERGENCE_TABLES:
        return DIVERGENCE_TABLES[name]
    return "Suite tables" if _family(rel) == "divergence" else "Tables"


def labels(rel: str) -> dict:
    """The report's labels of a table page: its suite and its name."""
    parts = Path(rel).with_suffix("").parts
    if len(parts) == 2:  # integrity/<suite>.csv, runs/<suite>.csv
        return {"suite": parts[1], "table": parts[0]}
    return {"suite": parts[1], "table": "/".join(parts[2:])}


def _columns(spec) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(c.name)}</td><td>{html.escape(c.unit)}</td>"
        f"<td>{html.escape(c.meaning)}</td></tr>"
        for c in spec.columns
    )
    return f'<h4>Columns</h4><table class="columns"><tr><th>column</th><th>unit</th><th>meaning</th></tr>{rows}</table>'


def write_page(source: str, page: str, rel: str, spec=None) -> None:
    """The HTML page of one output: a text file as it is, a table's first MAX_ROWS rows and, where
    its spec is known, what each column means."""
    import pandas as pd

    title = html.escape(rel)
    if source.endswith(".txt"):
        body = f"<pre>{html.escape(Path(source).read_text())}</pre>"
        text = PAGE.format(title=title, meaning="", shown="", table=body, columns="")
    else:
        df = pd.read_csv(source, keep_default_na=False, na_values=[""])
        shown = f"{len(df)} rows" if len(df) <= MAX_ROWS else f"first {MAX_ROWS} of {len(df)} rows"
        table = df.head(MAX_ROWS).to_html(index=False, na_rep="", float_format=lambda x: f"{x:.6g}")
        text = PAGE.format(
            title=title,
            meaning=html.escape(spec.meaning) if spec else "",
            shown=f"{shown}; the whole table: {html.escape(source)}",
            table=table,
            columns=_columns(spec) if spec else "",
        )
    Path(page).write_text(text)


# Curated captions (report/<name>.rst) of tables, by folder/stem; others use the table's meaning.
CAPTIONS = {
    "tables/summary": "summary",
    "regression/coefficients": "regression_table",
    "regression/summary": "regression_summary",
    "regression/pooled": "regression_pooled",
    "regression/phases": "regression_phases",
}


def caption(rel: str, report_dir, spec=None) -> str:
    """The caption of a table's page: its curated caption file if there is one, else its meaning."""
    folder, stem = rel.split("/")[0], Path(rel).name.split(".")[0]
    name = CAPTIONS.get(f"{folder}/{stem}")
    if folder == "integrity":
        name = "integrity"
    elif name is None and folder in ("study", "probe", "anisotropy"):
        name = f"table_{stem}"
    f = Path(report_dir) / f"{name}.rst"
    if name and f.exists():
        return f.read_text()
    return spec.meaning if spec else rel
