"""A regression fit as text: the LaTeX tabular of its coefficients, the diagnostics line, and
statsmodels summaries without their wall clock."""

from __future__ import annotations

import re

import pandas as pd


def _tex(s: str) -> str:
    """Escape a term name for LaTeX text mode (tag names are full of specials: $ `` '' # ...)."""
    rep = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "`": r"\textasciigrave{}",
        "'": r"\textquotesingle{}",
        "<": r"\textless{}",
        ">": r"\textgreater{}",
        "|": r"\textbar{}",
    }
    return re.sub("-(?=-)", "-{}", "".join(rep.get(c, c) for c in s))  # no --/--- dash ligatures


def _fmt_p(p: float) -> str:
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def latex_table(
    coefs: pd.DataFrame, references: dict[str, str], cluster_col: str, n_clusters: int
) -> str:
    lines = [
        r"\begin{tabular}{lrrrr}",
        r"\hline",
        r"Term & Coef. & SE & 95\% CI & $p$ \\",
        r"\hline",
    ]
    for r in coefs.itertuples():
        lines.append(
            f"{_tex(r.term)} & {r.coef:.4f} & {r.se:.4f} & "
            f"[{r.ci_low:.4f}, {r.ci_high:.4f}] & {_fmt_p(r.p_value)} \\\\"
        )
    refs = "; ".join(f"{_tex(k)}: {_tex(v)}" for k, v in references.items())
    n = int(coefs["n_obs"].iloc[0]) if len(coefs) else 0
    lines += [
        r"\hline",
        rf"\multicolumn{{5}}{{l}}{{\footnotesize $N={n}$; SE clustered by {_tex(cluster_col)} "
        rf"({n_clusters} clusters); references: {refs}}} \\",
        r"\end{tabular}",
    ]
    return "\n".join(lines) + "\n"


def diagnostics_text(dg: dict) -> str:
    steps = dg["steps"]
    span = (
        ""
        if not steps
        else (
            f", step {steps[0]}"
            if len(steps) == 1
            else f", {len(steps)} steps {steps[0]}..{steps[-1]}"
        )
    )
    vif = "; ".join(f"{k}={v:.3g}" for k, v in dg["max_vif"].items()) or "none (intercept only)"
    return (
        f"Diagnostics: {dg['n_obs']} rows, {dg['n_clusters']} clusters{span}; design {dg['n_columns']} "
        f"columns, rank {dg['rank']}; condition number {dg['condition_number']:.4g}\n"
        f"Max VIF per variable: {vif}"
    )


def undated(summary_text: str) -> str:
    """A statsmodels summary without its Date: and Time: cells (the wall clock of the fit), so the
    same data give byte-identical summaries."""
    return re.sub(
        r"(Date|Time):(\s+)\S.*?(?=\s{2,}|$)",
        lambda m: (
            f"{m.group(1)}:{m.group(2)}"
            + "-" * len(m.group(0)[len(m.group(1)) + 1 + len(m.group(2)) :])
        ),
        summary_text,
        flags=re.M,
    )
