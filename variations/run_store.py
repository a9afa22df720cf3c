"""A run folder on disk: writing it whole, and reading it (or its zip) back.

A run folder holds `manifest.json` (plan, versions, times, counts),
`completions.parquet` and `.jsonl` (one row per answer, `row` numbering them),
`embeddings.npy` (float32, aligned with the rows) and the tables `metrics.csv`,
`models.csv` and `variants.csv`. Reading one never calls a model nor imports
torch, so the app and `variations report` can open runs offline.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ConfigurationError
from .run_analysis import METRIC_COLUMNS, MODEL_COLUMNS, VARIANT_COLUMNS, RunMetrics

RUN_FORMAT = "variations-run"
RUN_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
COMPLETIONS = "completions.parquet"
COMPLETIONS_JSONL = "completions.jsonl"
EMBEDDINGS = "embeddings.npy"
TABLES = {"metrics": "metrics.csv", "models": "models.csv", "variants": "variants.csv"}
RUN_FILES = (MANIFEST, COMPLETIONS, COMPLETIONS_JSONL, EMBEDDINGS, *TABLES.values())
# A 1,875-answer run is a few MB; the cap stops a hostile zip, not a real run.
MAX_RUN_BYTES = 2_000_000_000
VERSIONED_PACKAGES = (
    "variations",
    "litellm",
    "numpy",
    "torch",
    "transformers",
    "sentence-transformers",
    "pydantic",
    "pyarrow",
)
_NEEDED_FILES = tuple(name for name in RUN_FILES if name != COMPLETIONS_JSONL)
_INTEGER_COLUMNS = {"samples", "answers", "rank", "cells", "significant_cells"}
_TEXT_COLUMNS = {"prompt_id", "model", "variant"}


@dataclass(frozen=True)
class Run:
    """A saved run, read back: everything a page or report needs."""

    source: Path
    manifest: dict[str, Any]
    completions: list[dict[str, Any]]
    embeddings: npt.NDArray[np.float32]
    metrics: list[dict[str, Any]]
    models: list[dict[str, Any]]
    variants: list[dict[str, Any]]


def package_versions() -> dict[str, str | None]:
    """Python's version and those of the packages that shape a run (no imports)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def check_run_dir(run_dir: Path, *, force: bool = False) -> None:
    """Refuse a file, or a folder with contents, unless `force` allows it."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigurationError(
            f"Cannot write a run to {str(run_dir)!r}: it is a file. "
            "Give a new folder name with --out."
        )
    if run_dir.is_dir() and os.listdir(run_dir) and not force:
        raise ConfigurationError(
            f"Run folder {str(run_dir)!r} is not empty. Give a new folder with"
            " --out, or pass --force to replace it."
        )
    if not run_dir.parent.is_dir():
        raise ConfigurationError(
            f"Cannot write {str(run_dir)!r}: folder {str(run_dir.parent)!r}"
            " does not exist."
        )


def write_run(
    run_dir: Path,
    *,
    manifest: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    vectors: npt.NDArray[np.floating],
    metrics: RunMetrics,
    force: bool = False,
) -> Path:
    """Write the whole folder beside it, then move it into place."""
    check_run_dir(run_dir, force=force)
    if len(rows) != len(vectors):
        raise ConfigurationError(
            f"got {len(rows)} completion rows for {len(vectors)} embeddings;"
            " they must be aligned one to one"
        )
    staging = run_dir.with_name(f"{run_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        _write_files(staging, manifest, rows, vectors, metrics)
        _move_into_place(staging, run_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return run_dir


def load_run(source: Path) -> Run:
    """Read a run folder, or a zip of one, without calling any model."""
    read = _zip_reader(source) if source.is_file() else _folder_reader(source)
    manifest = _parse_manifest(read(MANIFEST), source)
    embeddings = np.load(io.BytesIO(read(EMBEDDINGS)), allow_pickle=False)
    completions = _read_parquet(read(COMPLETIONS))
    if len(completions) != len(embeddings):
        raise ConfigurationError(
            f"Run {str(source)!r} is damaged: {len(completions)} completions but"
            f" {len(embeddings)} embeddings. Run the sweep again."
        )
    tables = {name: _read_table(read(file), source) for name, file in TABLES.items()}
    return Run(source, manifest, completions, embeddings, **tables)


def _write_files(
    folder: Path,
    manifest: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    vectors: npt.NDArray[np.floating],
    metrics: RunMetrics,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(list(rows)), folder / COMPLETIONS)
    with (folder / COMPLETIONS_JSONL).open("w", encoding="utf-8") as stream:
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
    np.save(folder / EMBEDDINGS, np.asarray(vectors, dtype=np.float32))
    _write_table(folder / TABLES["metrics"], metrics.metrics, METRIC_COLUMNS)
    _write_table(folder / TABLES["models"], metrics.models, MODEL_COLUMNS)
    _write_table(folder / TABLES["variants"], metrics.variants, VARIANT_COLUMNS)
    # The manifest goes last: a folder with one is a finished run.
    text = json.dumps({**manifest, "files": list(RUN_FILES)}, indent=2)
    (folder / MANIFEST).write_text(text + "\n", encoding="utf-8")


def _write_table(
    path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]
) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)


def _move_into_place(staging: Path, run_dir: Path) -> None:
    if not run_dir.exists():
        staging.rename(run_dir)
        return
    previous = run_dir.with_name(f"{run_dir.name}.old-{os.getpid()}")
    run_dir.rename(previous)
    staging.rename(run_dir)
    shutil.rmtree(previous, ignore_errors=True)


def _folder_reader(folder: Path) -> Callable[[str], bytes]:
    if not (folder / MANIFEST).is_file():
        raise ConfigurationError(
            f"{str(folder)!r} is not a run: it has no {MANIFEST}. Give a folder"
            " written by `variations sweep`, or a zip of one."
        )

    def read(name: str) -> bytes:
        path = folder / name
        if not path.is_file():
            raise ConfigurationError(
                f"Run {str(folder)!r} is incomplete: {name} is missing."
                " Run the sweep again."
            )
        return path.read_bytes()

    return read


def _zip_reader(archive: Path) -> Callable[[str], bytes]:
    """Members are read into memory by name: nothing is extracted to disk."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            infos = bundle.infolist()
            _check_members(archive, infos)
            prefix = _run_prefix(archive, infos)
            present = {info.filename for info in infos}
            contents = {
                name: bundle.read(prefix + name)
                for name in _NEEDED_FILES
                if prefix + name in present
            }
    except zipfile.BadZipFile as exc:
        raise ConfigurationError(
            f"{str(archive)!r} is neither a run folder nor a zip of one."
        ) from exc

    def read(name: str) -> bytes:
        if name not in contents:
            raise ConfigurationError(
                f"Run {str(archive)!r} is incomplete: {name} is missing."
            )
        return contents[name]

    return read


def _check_members(archive: Path, infos: list[zipfile.ZipInfo]) -> None:
    total = sum(info.file_size for info in infos)
    if total > MAX_RUN_BYTES:
        raise ConfigurationError(
            f"{str(archive)!r} unpacks to {total:,} bytes; the limit is"
            f" {MAX_RUN_BYTES:,}."
        )
    for info in infos:
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or ":" in info.filename:
            raise ConfigurationError(
                f"{str(archive)!r} holds an unsafe path {info.filename!r}:"
                " a run zip holds only relative paths inside one folder."
            )


def _run_prefix(archive: Path, infos: list[zipfile.ZipInfo]) -> str:
    """'' for a zip of the files, 'name/' for a zip of the folder."""
    manifests = [
        info.filename
        for info in infos
        if PurePosixPath(info.filename).name == MANIFEST
        and len(PurePosixPath(info.filename).parts) <= 2
    ]
    if len(manifests) != 1:
        raise ConfigurationError(
            f"{str(archive)!r} is not a run: expected one {MANIFEST} at its top"
            f" or in one folder, found {len(manifests)}."
        )
    return manifests[0][: -len(MANIFEST)]


def _parse_manifest(raw: bytes, source: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{MANIFEST} of {str(source)!r} is not JSON.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != RUN_FORMAT:
        raise ConfigurationError(
            f"{str(source)!r} is not a run: its {MANIFEST} lacks"
            f' "format": "{RUN_FORMAT}". Give a folder written by `variations sweep`.'
        )
    if manifest.get("format_version") != RUN_FORMAT_VERSION:
        raise ConfigurationError(
            f"Run {str(source)!r} has format version"
            f" {manifest.get('format_version')!r}; this release reads"
            f" {RUN_FORMAT_VERSION}."
        )
    return manifest


def _read_parquet(raw: bytes) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = pq.read_table(io.BytesIO(raw)).to_pylist()
    return rows


def _read_table(raw: bytes, source: Path) -> list[dict[str, Any]]:
    try:
        reader = csv.DictReader(io.StringIO(raw.decode("utf-8"), newline=""))
        return [
            {column: _parse_cell(column, text) for column, text in row.items()}
            for row in reader
        ]
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"Run {str(source)!r} has a damaged table ({exc}). Run the sweep again."
        ) from exc


def _parse_cell(column: str, text: str) -> Any:
    if column in _TEXT_COLUMNS:
        return text
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    if column in _INTEGER_COLUMNS:
        return int(text)
    return float(text)
