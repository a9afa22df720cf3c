"""The library keeps to its own rules: ruff clean, formatted, mypy strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["variations", "tests", "benchmarks", "app.py"]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_finds_nothing() -> None:
    finished = run("ruff", "check", *SOURCES)
    assert finished.returncode == 0, finished.stdout


def test_code_is_formatted() -> None:
    finished = run("ruff", "format", "--check", *SOURCES)
    assert finished.returncode == 0, finished.stdout


def test_library_is_mypy_strict_clean() -> None:
    finished = run("mypy", "--cache-dir", str(ROOT / ".mypy_cache"))
    assert finished.returncode == 0, finished.stdout
