"""The generated parts of the documentation, and the figures it shows.

  python tools/docs.py generate          # rewrite the generated sections of docs/outputs.md
                                         # (the table specs) and docs/configuration.md (the schema)
  python tools/docs.py check             # exit 1 if a generated section is out of date
  python tools/docs.py figures RESULTS   # copy the figures the docs show from RESULTS/figures/micro/
                                         # (a finished default run) into docs/figures/

A generated section lies between two marker comments; the text around it is written by hand.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from lmdyn.core import outputs  # noqa: E402

DOCS = REPO / "docs"
SCHEMA = REPO / "config" / "schemas" / "config.schema.yaml"
FIGURE_DIR = DOCS / "figures"
SUITE = "micro"  # the default run's suite, whose figures the docs show
# The default run's figures that README.md and docs/results.md show (names under results/figures/micro/).
FIGURES = (
    "phases",
    "kl_seeds",
    "seed_groups",
    "sigma_micro-m",
    "learnability_micro-m",
    "ce_fit",
    "sizes",
    "regression",
    "probe_kl",
    "probe_scatter",
    "anisotropy_mean",
    "geometry_accuracy",
    "geometry_norms",
    "neurons_patching",
    "neurons_emergence",
    "timeline",
)
CONFIG_BEGIN = "<!-- config: generated from config/schemas/config.schema.yaml by `python tools/docs.py generate`, do not edit -->"
CONFIG_END = "<!-- /config -->"


# ---- the configuration reference --------------------------------------------------------------------


def _value(v) -> str:
    """A default as it is written in YAML."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list | dict):
        return yaml.safe_dump(v, default_flow_style=True, width=10**6).strip()
    return str(v)


def _kind(node: dict, defs: dict) -> str:
    """Type and allowed values of a schema node, in words."""
    if "$ref" in node:
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return _kind({**defs[node["$ref"].rsplit("/", 1)[1]], **rest}, defs)
    if "oneOf" in node:
        return " or ".join(_kind(n, defs) for n in node["oneOf"])
    if "enum" in node:
        return " \\| ".join(_value(v) for v in node["enum"])
    types = node.get("type", "any")
    text = " or ".join(types) if isinstance(types, list) else types
    if text == "array" and "items" in node:
        text = f"list of {_kind(node['items'], defs)}"
    bounds = [
        f"{op} {node[k]}"
        for k, op in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
        )
        if k in node
    ]
    return ", ".join([text, *bounds])


def _rows(prefix: str, node: dict, defs: dict) -> list[str]:
    """Table rows of every key under a schema object, nested keys as dotted paths."""
    rows = []
    props = dict(node.get("properties", {}))
    extra = node.get("additionalProperties")
    for key, sub in props.items():
        path = f"{prefix}.{key}"
        if sub.get("type") == "object" and (
            "properties" in sub or isinstance(sub.get("additionalProperties"), dict)
        ):
            if sub.get("description"):
                rows.append(f"| `{path}` | object | | {_cell(sub['description'])} |")
            rows += _rows(path, sub, defs)
            continue
        default = f"`{_cell(_value(sub['default']))}`" if "default" in sub else ""
        meaning = sub.get("description") or defs.get(
            str(sub.get("$ref", "")).rsplit("/", 1)[-1], {}
        ).get("description", "")
        rows.append(f"| `{path}` | {_kind(sub, defs)} | {default} | {_cell(meaning)} |")
    if isinstance(extra, dict):  # a map of named entries (suites.<name>)
        rows += _rows(f"{prefix}.<name>", extra, defs)
    return rows


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def config_markdown(schema_path: Path = SCHEMA) -> str:
    """The configuration reference: one table per top-level section of the schema."""
    schema = yaml.safe_load(schema_path.read_text())
    defs = schema.get("$defs", {})
    lines = [CONFIG_BEGIN, ""]
    for section, node in schema["properties"].items():
        lines += [f"### `{section}`", ""]
        if node.get("description"):
            lines += [_cell(node["description"]), ""]
        lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        lines += _rows(section, node, defs) + [""]
    lines.append(CONFIG_END)
    return "\n".join(lines) + "\n"


# ---- generated sections -----------------------------------------------------------------------------

GENERATED = {
    "outputs.md": (outputs.MARK_BEGIN, outputs.MARK_END, outputs.markdown),
    "configuration.md": (CONFIG_BEGIN, CONFIG_END, config_markdown),
}


def section(text: str, begin: str, end: str) -> str:
    """The generated part of a page, markers included."""
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"no generated section (marker comments {begin[:20]}... {end})")
    return text[start : stop + len(end)] + "\n"


def stale(docs: Path = DOCS) -> list[str]:
    """The pages whose generated section differs from what the specs give."""
    out = []
    for name, (begin, end, make) in GENERATED.items():
        if section((docs / name).read_text(), begin, end) != make():
            out.append(name)
    return out


def generate(docs: Path = DOCS) -> None:
    for name, (begin, end, make) in GENERATED.items():
        page = docs / name
        text = page.read_text()
        old = section(text, begin, end)
        page.write_text(text.replace(old, make()))


# ---- figures ------------------------------------------------------------------------------------------


def copy_figures(results: Path, dest: Path = FIGURE_DIR, names=FIGURES) -> list[Path]:
    """Copy the shown figures (PNG) of a finished default run into ``dest``; one line if any is
    missing, before anything is copied."""
    src = Path(results) / "figures" / SUITE
    missing = [n for n in names if not (src / f"{n}.png").is_file()]
    if missing:
        raise SystemExit(
            f"docs figures: {src} has no {', '.join(f'{n}.png' for n in missing)}; "
            "give the results/ folder of a finished default run"
        )
    dest.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(src / f"{n}.png", dest / f"{n}.png")) for n in names]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="rewrite the generated sections of docs/")
    sub.add_parser("check", help="exit 1 if a generated section is out of date")
    fig = sub.add_parser("figures", help="copy the shown figures from a results/ folder")
    fig.add_argument("results", type=Path)
    args = parser.parse_args(argv)
    if args.command == "generate":
        generate()
    elif args.command == "check":
        bad = stale()
        if bad:
            print(f"out of date: {', '.join(bad)}; run python tools/docs.py generate")
            return 1
    else:
        for path in copy_figures(args.results):
            print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
