"""A saved run seen prompt by prompt, as the sweeps the app's charts draw.

Runs are found only inside one configured folder ($VARIATIONS_RUNS_DIR, else
the project's runs/), so a page on a public server cannot be pointed at any
other path. Nothing here calls a model: answers and embeddings come from the
run itself (see variations.run_store).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigurationError
from .records import BASELINE_ID, ChatRequest, Completion, GenerationParams
from .rewrites import Rewrite
from .run_store import MANIFEST, Run
from .sweep import SweepResult, SweepSpec
from .variants import PLACEHOLDER, Variant

RUNS_ENV = "VARIATIONS_RUNS_DIR"
DEFAULT_RUNS_DIR = Path(__file__).resolve().parent.parent / "runs"


def runs_dir() -> Path:
    """The one folder runs are opened from: $VARIATIONS_RUNS_DIR, else runs/."""
    configured = os.environ.get(RUNS_ENV)
    return Path(configured).expanduser() if configured else DEFAULT_RUNS_DIR


def list_runs(folder: Path) -> list[str]:
    """Names of the run folders (with a manifest) and zips directly in `folder`."""
    if not folder.is_dir():
        return []
    return sorted(
        path.name
        for path in folder.iterdir()
        if (path.is_dir() and (path / MANIFEST).is_file())
        or (path.is_file() and path.suffix == ".zip")
    )


def resolve_run(folder: Path, name: str) -> Path:
    """The path of run `name`, refused if it would lead outside `folder`."""
    root = folder.resolve()
    path = (root / name).resolve()
    # Only a listed entry, and not a symlink leading out of the folder.
    if name not in list_runs(folder) or path.parent != root:
        raise ConfigurationError(
            f"No run named {name[:80]!r} in the runs folder. Runs there: "
            f"{', '.join(list_runs(folder)) or 'none'} (set {RUNS_ENV} to "
            "choose the folder)."
        )
    return path


def run_prompt_ids(run: Run) -> list[str]:
    """The run's prompt ids, in the order they were swept."""
    return list(dict.fromkeys(str(row["prompt_id"]) for row in run.completions))


def run_result(run: Run, prompt_id: str) -> SweepResult:
    """One prompt of a run as a finished sweep, with the run's own embeddings."""
    rows = [row for row in run.completions if str(row["prompt_id"]) == prompt_id]
    if not rows:
        raise ConfigurationError(
            f"Run {str(run.source)!r} has no prompt {prompt_id!r}; it has "
            f"{', '.join(run_prompt_ids(run))}."
        )
    positions = [int(row["row"]) for row in rows]
    completions = [_completion(row) for row in rows]
    spec = SweepSpec(
        prompt=_original_prompt(rows),
        variants=_variants(rows),
        models=tuple(dict.fromkeys(str(row["model"]) for row in rows)),
        samples=max(int(row["sample"]) for row in rows) + 1,
        params=completions[0].request.params,
        rewrites=_rewrites(rows),
    )
    vectors = np.asarray(run.embeddings[positions], dtype=np.float32)
    return SweepResult(spec=spec, completions=completions, vectors=vectors)


def _completion(row: Mapping[str, Any]) -> Completion:
    sample = int(row["sample"])
    seed = row.get("seed")
    params = GenerationParams(
        temperature=float(row["temperature"]),
        max_tokens=int(row["max_tokens"]),
        seed=None if seed is None else int(seed) - sample,
    )
    request = ChatRequest(
        model=str(row["model"]),
        variant_id=str(row["variant"]),
        category=str(row["category"]),
        prompt=str(row["prompt"]),
        sample=sample,
        params=params,
    )
    return Completion(
        request,
        str(row.get("text") or ""),
        float(row.get("latency_s") or 0.0),
        cache_hit=bool(row.get("cache_hit")),
        error=row.get("error") or None,
    )


def _rewrites(rows: Sequence[Mapping[str, Any]]) -> tuple[Rewrite, ...]:
    """The model-written variants as the run recorded them, drift flags kept."""
    original = _original_prompt(rows)
    rewrites: dict[str, Rewrite] = {}
    for row in rows:
        variant_id = str(row["variant"])
        if not row.get("rewrite_model") or variant_id in rewrites:
            continue
        similarity = row.get("meaning_similarity")
        rewrites[variant_id] = Rewrite(
            prompt=original,
            variant_id=variant_id,
            model=str(row["rewrite_model"]),
            text=str(row["prompt"]),
            similarity=None if similarity is None else float(similarity),
            drifted=bool(row.get("drifted")),
        )
    return tuple(rewrites.values())


def _original_prompt(rows: Sequence[Mapping[str, Any]]) -> str:
    for row in rows:
        if row["variant"] == BASELINE_ID:
            return str(row["prompt"])
    return str(rows[0]["prompt"])


def _variants(rows: Sequence[Mapping[str, Any]]) -> tuple[Variant, ...]:
    """The variants as the run recorded them (templates are not in the rows)."""
    variants: dict[str, Variant] = {}
    for row in rows:
        variant_id = str(row["variant"])
        if variant_id == BASELINE_ID or variant_id in variants:
            continue
        variants[variant_id] = Variant(
            id=variant_id,
            label=str(row.get("variant_label") or variant_id),
            category=str(row["category"]),
            description="",
            template=PLACEHOLDER,
            intent="reframe" if row.get("intent") == "reframe" else "keep",
        )
    return tuple(variants.values())
