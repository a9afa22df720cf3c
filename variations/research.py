"""Running a sweep plan into a run folder, and the summary of a saved run.

`run_plan` sends every prompt x variant x model x sample of a plan in one
fan-out, embeds the answers, measures them (`run_analysis`) and writes the
folder (`run_store`). `format_report` reads only a loaded run.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .cache import CompletionCache, default_cache_dir
from .embeddings import EMBEDDING_DIM, Embedder, Vectors
from .fanout import FanOutLimits, fan_out, pending_requests
from .records import ChatRequest, Completion, CompletionFn
from .rewrites import Rewrite, rewrite_requests, score_rewrites, write_rewrites
from .run_analysis import AnalysisSettings, RunMetrics, analyse_run
from .run_store import (
    RUN_FORMAT,
    RUN_FORMAT_VERSION,
    Run,
    check_run_dir,
    load_run,
    package_versions,
    write_run,
)
from .sweep import SweepSpec, build_requests, score_sweep
from .sweep_plan import POOLED_PROMPT_ID, ResolvedPlan

TOP_VARIANTS = 5


@dataclass(frozen=True)
class PlanOptions:
    """How to run a plan: where the caches live and how hard to push."""

    cache_dir: Path | None = None
    use_cache: bool = True
    limits: FanOutLimits = field(default_factory=FanOutLimits)
    force: bool = False


def run_plan(
    resolved: ResolvedPlan,
    run_dir: Path,
    options: PlanOptions | None = None,
    *,
    complete: CompletionFn | None = None,
    embedder: Embedder | None = None,
    on_completion: Callable[[Completion], None] | None = None,
) -> Run:
    """Send the plan, measure the answers, write RUN_DIR; return it loaded.

    Everything is checked before the first call, so bad input writes nothing.
    """
    options = options or PlanOptions()
    check_run_dir(run_dir, force=options.force)
    plan = resolved.plan
    rewrite_calls = rewrite_requests(
        resolved.rewrite_jobs(), plan.rewrite_model, api_base=resolved.rewrite_api_base
    )
    known = [*rewrite_calls, *_requests(resolved.specs())]
    cache_dir = options.cache_dir or default_cache_dir()
    cache = CompletionCache(cache_dir) if options.use_cache else None
    embedder = embedder or Embedder(cache_dir, use_cache=options.use_cache)
    started = _now()

    try:
        if complete is None:
            complete = _production_completion(known, cache, embedder)
        elif pending_requests(known, cache):
            embedder.preload()
        sent = _send(resolved, complete, cache, options.limits, on_completion)
        written, completions = asyncio.run(sent)
        rewrites = score_rewrites(
            written, resolved.variants, embedder, threshold=plan.meaning_threshold
        )
        rows, vectors = _score(resolved.specs(rewrites), completions, embedder)
    finally:
        embedder.close()
        if cache is not None:
            cache.close()

    metrics = analyse_run(rows, vectors, _settings(resolved))
    manifest = _manifest(resolved, completions, embedder, started, rewrites, rows)
    write_run(
        run_dir,
        manifest=manifest,
        rows=rows,
        vectors=vectors,
        metrics=metrics,
        force=options.force,
    )
    return load_run(run_dir)


def metrics_of(run: Run) -> RunMetrics:
    """Recompute a run's tables from its saved answers and embeddings."""
    analysis = run.manifest.get("analysis", {})
    settings = AnalysisSettings(**analysis)
    return analyse_run(run.completions, run.embeddings, settings)


def format_report(run: Run, *, top: int = TOP_VARIANTS) -> str:
    """The run's summary as plain text: models, top shifts, variant ranking."""
    plan = run.manifest.get("plan", {})
    counts = run.manifest.get("counts", {})
    lines = [
        f"Run {plan.get('name', '?')}: {len(plan.get('prompts', []))} prompts,"
        f" {len(plan.get('variant_ids', []))} variants,"
        f" {len(plan.get('models', []))} models, {plan.get('samples', '?')} samples",
        f"{counts.get('answers', 0)} answers: {counts.get('calls', 0)} calls,"
        f" {counts.get('cache_hits', 0)} cache hits,"
        f" {counts.get('failures', 0)} failures",
    ]
    for model_row in run.models:
        if model_row["prompt_id"] == POOLED_PROMPT_ID:
            lines += ["", *_model_section(run, model_row, top)]
    lines += ["", *_ranking_section(run.variants)]
    rewrites = run.manifest.get("rewrites") or []
    if rewrites:
        lines += ["", *_rewrites_section(rewrites)]
    return "\n".join(lines)


async def _send(
    resolved: ResolvedPlan,
    complete: CompletionFn,
    cache: CompletionCache | None,
    limits: FanOutLimits,
    on_completion: Callable[[Completion], None] | None,
) -> tuple[list[Rewrite], list[Completion]]:
    """Write the model-written variants, then send every cell in one fan-out."""
    from .providers import release_clients

    completions = []
    try:
        written = await write_rewrites(
            resolved.rewrite_jobs(),
            complete,
            model=resolved.plan.rewrite_model,
            api_base=resolved.rewrite_api_base,
            cache=cache,
            limits=limits,
        )
        requests = list(dict.fromkeys(_requests(resolved.specs(written))))
        async for completion in fan_out(requests, complete, cache=cache, limits=limits):
            completions.append(completion)
            if on_completion is not None:
                on_completion(completion)
    finally:
        await release_clients()
    return written, completions


def _requests(specs: Sequence[tuple[str, SweepSpec]]) -> list[ChatRequest]:
    return [request for _, spec in specs for request in build_requests(spec)]


def _production_completion(
    requests: Sequence[ChatRequest],
    cache: CompletionCache | None,
    embedder: Embedder,
) -> CompletionFn:
    """litellm, after checking every model that still has to be called."""
    from .providers import check_models, complete_with_litellm

    pending = pending_requests(list(requests), cache)
    if pending:
        # Load the embedder in another process while litellm imports.
        embedder.preload(in_subprocess=True)
    by_base: dict[str | None, set[str]] = {}
    for request in pending:
        by_base.setdefault(request.params.api_base, set()).add(request.model)
    for api_base, models in by_base.items():
        check_models(sorted(models), api_base=api_base)
    return complete_with_litellm


def _score(
    specs: Sequence[tuple[str, SweepSpec]],
    completions: Sequence[Completion],
    embedder: Embedder,
) -> tuple[list[dict[str, Any]], Vectors]:
    """Rows and vectors in plan order: prompt, model, then variant and sample.

    Two prompts can send one identical request (two rewrites that came out
    the same): it is one call, and its answer counts for both.
    """
    by_request = {completion.request: completion for completion in completions}
    rows: list[dict[str, Any]] = []
    blocks = [np.zeros((0, EMBEDDING_DIM), dtype=np.float32)]
    for prompt_id, spec in specs:
        own = [by_request[request] for request in build_requests(spec)]
        result = score_sweep(spec, own, embedder)
        for row in result.rows():
            rows.append({"row": len(rows), "prompt_id": prompt_id, **row})
        blocks.append(result.vectors)
    return rows, np.concatenate(blocks)


def _settings(resolved: ResolvedPlan) -> AnalysisSettings:
    plan = resolved.plan
    return AnalysisSettings(
        permutations=plan.permutations,
        bootstraps=plan.bootstraps,
        seed=plan.seed,
        alpha=plan.alpha,
    )


def _manifest(
    resolved: ResolvedPlan,
    completions: Sequence[Completion],
    embedder: Embedder,
    started: str,
    rewrites: Sequence[Rewrite],
    rows: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    hits = sum(completion.cache_hit for completion in completions)
    settings = _settings(resolved)
    ids = {prompt.text: prompt.id for prompt in resolved.plan.prompts}
    return {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "plan": resolved.as_data(),
        "plan_file": str(resolved.source) if resolved.source else None,
        "models": [model.model_dump(mode="json") for model in resolved.plan.models],
        "embedding_model": embedder.model_name,
        "versions": package_versions(),
        "started": started,
        "ended": _now(),
        "counts": {
            "answers": len(rows),
            "calls": len(completions) - hits,
            "cache_hits": hits,
            "failures": sum(not completion.ok for completion in completions),
            "rewrites": len(rewrites),
            "rewrite_failures": sum(not rewrite.ok for rewrite in rewrites),
            "drifted_rewrites": sum(rewrite.drifted for rewrite in rewrites),
        },
        "rewrites": [_rewrite_record(rewrite, ids) for rewrite in rewrites],
        "analysis": {
            "permutations": settings.permutations,
            "bootstraps": settings.bootstraps,
            "seed": settings.seed,
            "alpha": settings.alpha,
        },
    }


def _rewrite_record(rewrite: Rewrite, prompt_ids: dict[str, str]) -> dict[str, Any]:
    """A model-written variant as the manifest keeps it: who wrote what."""
    return {
        "prompt_id": prompt_ids.get(rewrite.prompt),
        "variant": rewrite.variant_id,
        "model": rewrite.model,
        "text": rewrite.text,
        "meaning_similarity": rewrite.similarity,
        "drifted": rewrite.drifted,
        "error": rewrite.error,
    }


def _model_section(run: Run, model_row: dict[str, Any], top: int) -> list[str]:
    model = model_row["model"]
    pooled = [
        row
        for row in run.metrics
        if row["model"] == model and row["prompt_id"] == POOLED_PROMPT_ID
    ]
    strongest = sorted(pooled, key=lambda row: -_sortable(row["shift"]))[:top]
    lines = [
        f"{model}",
        f"  noise floor {_number(model_row['noise_floor'])}"
        f"   PERMANOVA R² {_number(model_row['permanova_r2'])}"
        f" p {_number(model_row['permanova_p'])}"
        f"   sensitivity {_number(model_row['sensitivity'])}"
        f" [{_number(model_row['sensitivity_low'])},"
        f" {_number(model_row['sensitivity_high'])}]",
        f"  {'variant':<20} {'shift':>7} {'ratio':>7} {'p':>7} {'q':>7}",
    ]
    for row in strongest:
        mark = " *" if row["significant"] else ""
        lines.append(
            f"  {row['variant']:<20} {_number(row['shift']):>7}"
            f" {_number(row['ratio'], 2):>7} {_number(row['p_value']):>7}"
            f" {_number(row['adjusted_p_value']):>7}{mark}"
        )
    return lines


def _ranking_section(variants: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "Variants ranked by how often they shift answers beyond the noise",
        f"  {'#':>3} {'variant':<20} {'beyond noise':>12} {'mean ratio':>10}",
    ]
    for row in variants:
        share = f"{row['significant_cells']}/{row['cells']}"
        lines.append(
            f"  {row['rank']:>3} {row['variant']:<20} {share:>12}"
            f" {_number(row['mean_ratio'], 2):>10}"
        )
    return lines


def _rewrites_section(rewrites: Sequence[dict[str, Any]]) -> list[str]:
    lines = ["Model-written variants (meaning kept: similarity to the prompt)"]
    for record in rewrites:
        where = f"{record['prompt_id']}/{record['variant']}"
        if record.get("error"):
            lines.append(f"  {where:<28} not written: {record['error']}")
            continue
        flag = " DRIFTED" if record.get("drifted") else ""
        text = " ".join(str(record["text"]).split())
        clipped = text if len(text) <= 60 else text[:59] + "…"
        lines.append(
            f"  {where:<28} {_number(record['meaning_similarity'], 2)}{flag}  {clipped}"
        )
    return lines


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def _sortable(value: Any) -> float:
    return -math.inf if value is None else float(value)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
