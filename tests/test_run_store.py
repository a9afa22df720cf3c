"""Run folders: written whole, read back from a folder or a zip, safely."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from variations.errors import ConfigurationError
from variations.run_analysis import RunMetrics
from variations.run_store import (
    RUN_FILES,
    RUN_FORMAT,
    RUN_FORMAT_VERSION,
    load_run,
    package_versions,
    write_run,
)

MANIFEST = {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "plan": {}}
ROWS = [
    {"row": 0, "prompt_id": "p1", "model": "m", "variant": "original", "text": "a"},
    {"row": 1, "prompt_id": "p1", "model": "m", "variant": "polite", "text": "b"},
]
METRICS = RunMetrics(
    metrics=[
        {
            "prompt_id": "007",
            "model": "m",
            "variant": "polite",
            "samples": 1,
            "shift": 0.25,
            "noise_floor": None,
            "ratio": math.inf,
            "p_value": None,
            "adjusted_p_value": None,
            "significant": False,
        }
    ],
    models=[],
    variants=[
        {
            "rank": 1,
            "variant": "polite",
            "cells": 0,
            "significant_cells": 0,
            "fraction": 0.0,
            "mean_ratio": None,
        }
    ],
)


def write(run_dir: Path, **changes: Any) -> Path:
    arguments: dict[str, Any] = {
        "manifest": MANIFEST,
        "rows": ROWS,
        "vectors": np.eye(2, 384, dtype=np.float32),
        "metrics": METRICS,
    }
    return write_run(run_dir, **{**arguments, **changes})


def test_a_written_run_reads_back(tmp_path: Path) -> None:
    run = load_run(write(tmp_path / "run"))

    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(RUN_FILES)
    assert [row["text"] for row in run.completions] == ["a", "b"]
    assert run.embeddings.dtype == np.float32 and run.embeddings.shape == (2, 384)
    metric = run.metrics[0]
    assert metric["prompt_id"] == "007" and metric["samples"] == 1
    assert metric["noise_floor"] is None and metric["ratio"] == math.inf
    assert metric["significant"] is False
    assert run.models == [] and run.variants[0]["rank"] == 1
    assert run.manifest["files"] == list(RUN_FILES)
    assert not list(tmp_path.glob("run.*"))


def test_an_existing_run_is_kept_unless_forced(tmp_path: Path) -> None:
    write(tmp_path / "run")

    with pytest.raises(ConfigurationError, match="is not empty.*--force"):
        write(tmp_path / "run")
    write(tmp_path / "run", rows=ROWS[::-1], force=True)

    assert load_run(tmp_path / "run").completions[0]["text"] == "b"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_misaligned_embeddings_write_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="2 completion rows for 3"):
        write(tmp_path / "run", vectors=np.zeros((3, 384), dtype=np.float32))

    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("folder_prefix", ["", "my-run/"])
def test_a_zip_of_a_run_reads_back(tmp_path: Path, folder_prefix: str) -> None:
    run_dir = write(tmp_path / "run")
    archive = tmp_path / "run.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in run_dir.iterdir():
            bundle.write(path, folder_prefix + path.name)

    run = load_run(archive)

    assert [row["text"] for row in run.completions] == ["a", "b"]
    assert run.metrics == load_run(run_dir).metrics


@pytest.mark.parametrize(
    "name", ["../manifest.json", "/etc/manifest.json", "a/../../x"]
)
def test_a_zip_with_unsafe_paths_is_refused(tmp_path: Path, name: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(name, "{}")

    with pytest.raises(ConfigurationError, match="unsafe path"):
        load_run(archive)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "is not a run: it has no manifest.json"),
        (lambda d: (d / "manifest.json").write_text("{}"), 'lacks "format"'),
        (lambda d: (d / "manifest.json").write_text("nope"), "is not JSON"),
        (
            lambda d: (d / "manifest.json").write_text(json.dumps(MANIFEST)),
            "is incomplete: embeddings.npy is missing",
        ),
    ],
)
def test_a_folder_that_is_not_a_run_is_named(
    tmp_path: Path, setup: Any, message: str
) -> None:
    setup(tmp_path)

    with pytest.raises(ConfigurationError, match=message):
        load_run(tmp_path)


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hello")

    with pytest.raises(ConfigurationError, match="neither a run folder nor a zip"):
        load_run(tmp_path / "x.txt")


def test_versions_are_read_without_importing() -> None:
    versions = package_versions()

    assert versions["numpy"] == np.__version__ and versions["python"]
    assert set(versions) >= {"litellm", "torch", "sentence-transformers"}
