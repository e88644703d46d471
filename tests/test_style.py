"""Style checks: snakemake --lint, snakefmt --check, ruff lint and format."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
