"""Running a sweep from plain options: what the CLI (and scripts) call.

Everything is checked before the first call goes out, and the output file is
written only once the sweep has finished, so bad input writes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from .cache import CompletionCache, default_cache_dir
from .embeddings import Embedder
from .export import check_output_path, write_rows
from .fanout import FanOutLimits, pending_requests
from .records import ChatRequest, Completion, CompletionFn, GenerationParams
from .sweep import SweepResult, SweepSpec, build_requests, run_sweep
from .variants import load_library


@dataclass(frozen=True)
class SweepOptions:
    """A sweep as a person asks for it on the command line."""

    prompt: str
    models: tuple[str, ...]
    selector: str = "all"
    samples: int = 1
    params: GenerationParams = field(default_factory=GenerationParams)
    concurrency: int = 64
    timeout_s: float = 120.0
    cache_dir: Path | None = None
    use_cache: bool = True
    out: Path | None = None

    def spec(self) -> SweepSpec:
        variants = load_library().select(self.selector)
        return SweepSpec(
            prompt=self.prompt,
            variants=variants,
            models=tuple(dict.fromkeys(self.models)),
            samples=self.samples,
            params=self.params,
        )

    def limits(self) -> FanOutLimits:
        return FanOutLimits(
            concurrency=self.concurrency,
            per_model_concurrency=self.concurrency,
            timeout_s=self.timeout_s,
        )


@dataclass
class PreparedSweep:
    """A sweep whose every input has been checked, ready to send."""

    spec: SweepSpec
    complete: CompletionFn
    embedder: Embedder
    cache: CompletionCache | None
    limits: FanOutLimits
    out: Path | None

    @property
    def request_count(self) -> int:
        return len(build_requests(self.spec))


def prepare_sweep(
    options: SweepOptions, *, complete: CompletionFn | None = None
) -> PreparedSweep:
    """Check every option and model; raise a VariationsError on bad input."""
    spec = options.spec()
    limits = options.limits()
    if options.out is not None:
        check_output_path(options.out)
    cache_dir = options.cache_dir or default_cache_dir()
    cache = CompletionCache(cache_dir) if options.use_cache else None
    embedder = Embedder(cache_dir, use_cache=options.use_cache)
    if complete is None:
        pending = pending_requests(build_requests(spec), cache)
        complete = _production_completion(spec, pending, embedder)
    return PreparedSweep(spec, complete, embedder, cache, limits, options.out)


def execute_sweep(
    prepared: PreparedSweep,
    *,
    on_completion: Callable[[Completion], None] | None = None,
) -> SweepResult:
    """Run a prepared sweep; write its output file once it has finished."""
    sweep = run_sweep(
        prepared.spec,
        prepared.complete,
        prepared.embedder,
        cache=prepared.cache,
        limits=prepared.limits,
        on_completion=on_completion,
    )
    try:
        result = asyncio.run(_run_and_release(sweep))
    finally:
        prepared.embedder.close()
        if prepared.cache is not None:
            prepared.cache.close()
    if prepared.out is not None and any(c.ok for c in result.completions):
        write_rows(result.rows(), prepared.out)
    return result


def run_from_options(
    options: SweepOptions,
    *,
    complete: CompletionFn | None = None,
    on_completion: Callable[[Completion], None] | None = None,
) -> SweepResult:
    """Check the options, run the sweep, write the output file if asked."""
    return execute_sweep(
        prepare_sweep(options, complete=complete), on_completion=on_completion
    )


def _production_completion(
    spec: SweepSpec, pending: list[ChatRequest], embedder: Embedder
) -> CompletionFn:
    """litellm, after checking every model that still has to be called."""
    from .providers import check_models, complete_with_litellm

    if pending:
        # Start loading the embedder now, in another process: it overlaps
        # importing litellm and the wait for the answers.
        embedder.preload(in_subprocess=True)
        models = {request.model for request in pending}
        check_models(sorted(models), api_base=spec.params.api_base)
    return complete_with_litellm


async def _run_and_release(sweep: Awaitable[SweepResult]) -> SweepResult:
    from .providers import release_clients

    try:
        return await sweep
    finally:
        await release_clients()
