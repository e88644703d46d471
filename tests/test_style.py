"""Style checks: snakemake --lint, snakefmt --check, ruff lint and format, module and function sizes."""

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "scripts" / "lmdyn"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def test_snakefmt_clean():
    res = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "."], cwd=REPO, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr


def test_snakemake_lint_clean():
    res = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "-n"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0 and "good condition" in res.stdout + res.stderr, (
        res.stdout + res.stderr
    )


def test_report_captions_are_valid_restructuredtext():
    """Every caption renders without docutils warnings (|x| is a substitution in RST: the report would
    print an error per caption and drop the text)."""
    import docutils.core
    import docutils.utils

    for f in sorted((REPO / "report").glob("*.rst")):
        try:
            docutils.core.publish_string(
                f.read_text(),
                writer="null",
                settings_overrides={"report_level": 5, "halt_level": 2},
            )
        except docutils.utils.SystemMessage as e:
            raise AssertionError(f"{f.name}: {e}") from None


def test_ruff_clean():
    """ruff lint and format (rules in pyproject.toml) over the library, rule scripts, tests and tools."""
    for args in (["check", "."], ["format", "--check", "."]):
        res = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True
        )
        assert res.returncode == 0, res.stdout + res.stderr


def test_library_modules_and_functions_are_short():
    """No library module over 400 lines, no function or method over 60 (its def line through its
    last line, docstring included)."""
    offenders = []
    for path in sorted(LIB.rglob("*.py")):
        rel = path.relative_to(LIB).as_posix()
        src = path.read_text()
        n = len(src.splitlines())
        if n > MAX_MODULE_LINES:
            offenders.append(f"{rel}: module of {n} lines")
        for node in ast.walk(ast.parse(src, filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    offenders.append(f"{rel}:{node.lineno}: {node.name} has {length} lines")
    assert not offenders, (
        f"over {MAX_MODULE_LINES} lines per module or {MAX_FUNCTION_LINES} per function:\n"
        + "\n".join(offenders)
    )
