"""The HTML report: one category per family and one for the data and checkpoints, every figure
and table in one of them, and every suite table as an HTML page."""

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
from test_targets import default_config

from lmdyn.core import outputs, report, targets
from lmdyn.core.workflow import Suites

REPO = Path(__file__).resolve().parents[1]


def rule_categories():
    """(category, subcategory) of every report() in the rules with literal strings."""
    text = "\n".join(p.read_text() for p in sorted((REPO / "rules").glob("*.smk")))
    return re.findall(r'category="([^"]+)",\s*\n\s*subcategory="([^"]+)"', text), text


def test_every_figure_is_in_one_family_category_with_a_subcategory():
    pairs, text = rule_categories()
    assert len(pairs) == len(re.findall(r'(?<!sub)category="', text)) > 20
    assert {c for c, _ in pairs} == set(report.CATEGORIES.values()) - {report.DATA}
    # the divergence family's figures share the subcategories of its tables
    div = {s for c, s in pairs if c == "Divergence"}
    assert set(report.DIVERGENCE_TABLES.values()) | {report.REGRESSION} <= div


def test_every_table_of_rule_all_has_a_page_in_a_category():
    cfg = default_config()
    out = targets.final_outputs(cfg, Suites(cfg))
    csv = [f for f in out if f.endswith(".csv") and len(Path(f).parts) <= 4]
    assert "results/runs/micro/micro-m/seed0.csv" in out  # a run's table: no page of its own
    assert not any(p.startswith("results/report/runs/micro/") for p in out)
    pages = [f for f in out if f.startswith("results/report/")]
    assert {report.page_of(f) for f in csv} <= set(pages)
    assert "results/report/regression/micro/summary.txt.html" in pages
    assert "results/report/probe/micro/deciles.csv.html" in pages
    cats = set()
    for p in pages:
        src = report.source_of(p)
        assert report.page_of(src) == p
        rel = src.removeprefix("results/")
        cats.add(report.category(rel))
        assert report.labels(rel)["suite"] == "micro", rel
    assert cats == set(report.CATEGORIES.values())
    assert report.category("integrity/micro.csv") == report.DATA
    assert report.subcategory("study/micro/sigma.csv") == report.SIGMA


class Cells(HTMLParser):
    """The text of every cell of the first table, row by row."""

    def __init__(self):
        super().__init__()
        self.rows, self.tables, self.cell = [], 0, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables += 1
        if self.tables == 1 and tag == "tr":
            self.rows.append([])
        if self.tables == 1 and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell.strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def test_a_table_page_shows_the_csv_rows_and_the_column_meanings(tmp_path):
    spec = outputs.get("study.phases")
    rng = np.random.default_rng(0)
    n = report.MAX_ROWS + 7
    df = pd.DataFrame({c.name: rng.uniform(size=n) for c in spec.columns[:3]})
    df.iloc[3, 1] = np.nan
    src, page = tmp_path / "t.csv", tmp_path / "t.html"
    df.to_csv(src, index=False)
    report.write_page(str(src), str(page), "study/micro/phases.csv", spec)
    text = page.read_text()
    parser = Cells()
    parser.feed(text)
    header, *rows = parser.rows
    assert header == list(df.columns) and len(rows) == report.MAX_ROWS
    assert float(rows[5][2]) == float(f"{df.iloc[5, 2]:.6g}")
    assert rows[3][1] == ""  # a missing value is an empty cell
    assert f"first {report.MAX_ROWS} of {n} rows" in text
    for c in spec.columns:
        assert html.escape(c.meaning) in text


def test_a_text_output_is_shown_as_it_is(tmp_path):
    src, page = tmp_path / "summary.txt", tmp_path / "s.html"
    src.write_text("coef <b> & 1.0\n")
    report.write_page(str(src), str(page), "regression/micro/summary.txt")
    assert "<pre>coef &lt;b&gt; &amp; 1.0\n</pre>" in page.read_text()


def test_captions_are_the_curated_ones_where_they_exist():
    d = REPO / "report"
    assert report.caption("study/micro/phases.csv", d) == (d / "table_phases.rst").read_text()
    assert report.caption("regression/micro/phases.csv", d).startswith(
        (d / "regression_phases.rst").read_text()[:40]
    )
    assert report.caption("integrity/micro.csv", d) == (d / "integrity.rst").read_text()
    spec = outputs.get("neurons.outliers")
    assert report.caption("neurons/micro/outliers.csv", d, spec) == spec.meaning
