"""snakemake --lint and snakefmt --check are part of the tests (DESIGN.md section 7)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_snakefmt_clean():
    res = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "."], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_snakemake_lint_clean():
    res = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "-n"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0 and "good condition" in res.stdout + res.stderr, res.stdout + res.stderr
