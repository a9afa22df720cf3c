"""Running a sweep from plain options: what the CLI (and scripts) call.

Everything is checked before the first call goes out, and the output file is
written only once the sweep has finished, so bad input writes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .cache import CompletionCache, default_cache_dir
from .embeddings import Embedder
from .export import check_output_path, write_rows
from .fanout import FanOutLimits, pending_requests
from .records import ChatRequest, Completion, CompletionFn, GenerationParams
from .rewrites import (
    DEFAULT_REWRITE_MODEL,
    DEFAULT_THRESHOLD,
    Rewrite,
    check_threshold,
    rewrite_requests,
    rewrite_variants,
    score_rewrites,
    write_rewrites,
)
from .sweep import SweepResult, SweepSpec, build_requests, run_sweep
from .variant_sets import select_variants


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
    rewrite_model: str = DEFAULT_REWRITE_MODEL
    threshold: float = DEFAULT_THRESHOLD

    def spec(self) -> SweepSpec:
        """The sweep without its rewrites, which are written when it runs."""
        variants = select_variants(self.selector)
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
    rewrite_model: str = DEFAULT_REWRITE_MODEL
    threshold: float = DEFAULT_THRESHOLD

    @property
    def request_count(self) -> int:
        """The sweep's calls, counting each model-written variant as written."""
        rewrites = len(rewrite_variants(self.spec.variants))
        return len(build_requests(self.spec)) + rewrites * (
            len(self.spec.models) * self.spec.samples
        )


def prepare_sweep(
    options: SweepOptions, *, complete: CompletionFn | None = None
) -> PreparedSweep:
    """Check every option and model; raise a VariationsError on bad input."""
    spec = options.spec()
    limits = options.limits()
    check_threshold(options.threshold)
    if options.out is not None:
        check_output_path(options.out)
    cache_dir = options.cache_dir or default_cache_dir()
    cache = CompletionCache(cache_dir) if options.use_cache else None
    embedder = Embedder(cache_dir, use_cache=options.use_cache)
    if complete is None:
        pending = pending_requests(_known_requests(spec, options), cache)
        complete = _production_completion(spec, pending, embedder)
    return PreparedSweep(
        spec,
        complete,
        embedder,
        cache,
        limits,
        options.out,
        rewrite_model=options.rewrite_model,
        threshold=options.threshold,
    )


def execute_sweep(
    prepared: PreparedSweep,
    *,
    on_completion: Callable[[Completion], None] | None = None,
    on_rewrites: Callable[[Sequence[Rewrite]], None] | None = None,
) -> SweepResult:
    """Run a prepared sweep; write its output file once it has finished.

    Model-written variants are written first and passed to `on_rewrites`
    before any of them is sent.
    """
    try:
        result = asyncio.run(
            _run_and_release(_rewrite_then_run(prepared, on_completion, on_rewrites))
        )
    finally:
        prepared.embedder.close()
        if prepared.cache is not None:
            prepared.cache.close()
    if prepared.out is not None and any(c.ok for c in result.completions):
        write_rows(result.rows(), prepared.out)
    return result


async def _rewrite_then_run(
    prepared: PreparedSweep,
    on_completion: Callable[[Completion], None] | None,
    on_rewrites: Callable[[Sequence[Rewrite]], None] | None,
) -> SweepResult:
    spec = prepared.spec
    to_write = rewrite_variants(spec.variants)
    if to_write:
        written = await write_rewrites(
            [(spec.prompt, variant) for variant in to_write],
            prepared.complete,
            model=prepared.rewrite_model,
            api_base=spec.params.api_base,
            cache=prepared.cache,
            limits=prepared.limits,
        )
        rewrites = score_rewrites(
            written, to_write, prepared.embedder, threshold=prepared.threshold
        )
        spec = replace(spec, rewrites=tuple(rewrites))
        if on_rewrites is not None:
            on_rewrites(rewrites)
    return await run_sweep(
        spec,
        prepared.complete,
        prepared.embedder,
        cache=prepared.cache,
        limits=prepared.limits,
        on_completion=on_completion,
    )


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


def _known_requests(spec: SweepSpec, options: SweepOptions) -> list[ChatRequest]:
    """The calls known before rewrites are written: the rewrites, the rest."""
    jobs = [(spec.prompt, variant) for variant in rewrite_variants(spec.variants)]
    rewrites = rewrite_requests(
        jobs, options.rewrite_model, api_base=spec.params.api_base
    )
    return [*rewrites, *build_requests(spec)]


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
