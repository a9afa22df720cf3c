"""Writing a sweep's rows to CSV, JSON Lines or Parquet, chosen by extension."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

FORMATS = (".csv", ".jsonl", ".parquet")


def check_output_path(path: Path) -> Path:
    """Raise a clear error for an extension or folder we cannot write."""
    if path.suffix.lower() not in FORMATS:
        raise ConfigurationError(
            f"Cannot write {str(path)!r}: the extension must be one of "
            f"{', '.join(FORMATS)}."
        )
    if not path.parent.exists():
        raise ConfigurationError(
            f"Cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist."
        )
    return path


def write_rows(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Write rows atomically: a reader never sees half a file."""
    check_output_path(path)
    suffix = path.suffix.lower()
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=suffix)
    os.close(handle)
    try:
        _WRITERS[suffix](rows, Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def rows_to_csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as CSV text (for downloads)."""
    import io

    buffer = io.StringIO()
    _write_csv_to(rows, buffer)
    return buffer.getvalue()


def rows_to_json_text(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as one JSON array (for downloads)."""
    return json.dumps(list(rows), ensure_ascii=False, indent=1)


def _write_csv(rows: Sequence[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        _write_csv_to(rows, stream)


def _write_csv_to(rows: Sequence[dict[str, Any]], stream: Any) -> None:
    fields = list(rows[0]) if rows else []
    writer = csv.DictWriter(stream, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)


def _write_jsonl(rows: Sequence[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as stream:
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_parquet(rows: Sequence[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(list(rows)), path)


_WRITERS = {".csv": _write_csv, ".jsonl": _write_jsonl, ".parquet": _write_parquet}
