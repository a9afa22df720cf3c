"""The `variations` command: list variants and run sweeps from a terminal."""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from .errors import VariationsError
from .records import BASELINE_ID, Completion, GenerationParams
from .rewrites import Rewrite
from .variants import load_library

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_MODEL = "local/smollm2-135m"


def entry() -> None:
    """The console entry point: the CLI, then a quick exit.

    After a cold sweep, tearing down torch and litellm at interpreter exit
    takes 2-3 s here. Everything is written and flushed by then (files are
    replaced atomically, caches commit per write), so skip the teardown.
    """
    try:
        main()
        code: int = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    if "torch" in sys.modules or "litellm" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


@click.group()
@click.version_option(package_name="variations")
@click.option("-v", "--verbose", count=True, help="Log calls (-v) or bodies (-vv).")
def main(verbose: int) -> None:
    """See how the tone and framing of a prompt steer what a model says."""
    if verbose:
        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
            stream=sys.stderr,
        )


@main.command()
@click.option("--category", "-c", help="Only this category (e.g. tone, framing).")
def variants(category: str | None) -> None:
    """List the built-in variants."""
    with _clear_errors():
        library = load_library()
        chosen = (
            library.in_category(library.check_category(category))
            if category
            else library.variants
        )
        width = max(len(variant.id) for variant in chosen)
        for variant in chosen:
            click.echo(
                f"{variant.id:<{width}}  {variant.category:<12}  "
                f"{variant.intent:<7}  {variant.description}"
            )


@main.command()
@click.argument("prompt")
@click.option(
    "--model", "-m", "models", multiple=True, help="litellm model name; repeatable."
)
@click.option(
    "--variants",
    "selector",
    default="all",
    show_default=True,
    help="all, a category, comma-separated variant ids, or a variant-set .yaml.",
)
@click.option("--samples", "-n", default=1, show_default=True, type=int)
@click.option("--temperature", "-t", default=0.7, show_default=True, type=float)
@click.option("--max-tokens", default=128, show_default=True, type=int)
@click.option("--seed", type=int, help="Fix sampling (sample i uses seed + i).")
@click.option("--api-base", help="URL of an OpenAI-compatible server.")
@click.option("--concurrency", default=64, show_default=True, type=int)
@click.option(
    "--timeout", default=120.0, show_default=True, type=float, help="Seconds per call."
)
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-cache", is_flag=True, help="Ask every model afresh.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every completion to .csv, .jsonl or .parquet.",
)
@click.option(
    "--rewrite-model",
    default=DEFAULT_MODEL,
    show_default=True,
    help="The model that writes model-written variants.",
)
@click.option(
    "--meaning-threshold",
    default=0.5,
    show_default=True,
    type=float,
    help="Flag a rewrite meant to keep the intent below this similarity.",
)
def run(
    prompt: str,
    models: tuple[str, ...],
    selector: str,
    samples: int,
    temperature: float,
    max_tokens: int,
    seed: int | None,
    api_base: str | None,
    concurrency: int,
    timeout: float,
    cache_dir: Path | None,
    no_cache: bool,
    out: Path | None,
    rewrite_model: str,
    meaning_threshold: float,
) -> None:
    """Run PROMPT and its variants through the models and show the divergence."""
    from .runner import SweepOptions, execute_sweep, prepare_sweep

    with _clear_errors():
        options = SweepOptions(
            prompt=prompt,
            models=models or (DEFAULT_MODEL,),
            selector=selector,
            samples=samples,
            params=GenerationParams(
                temperature=temperature,
                max_tokens=max_tokens,
                seed=seed,
                api_base=api_base,
            ),
            concurrency=concurrency,
            timeout_s=timeout,
            cache_dir=cache_dir,
            use_cache=not no_cache,
            out=out,
            rewrite_model=rewrite_model,
            threshold=meaning_threshold,
        )
        prepared = prepare_sweep(options)
        with _progress(prepared.request_count) as on_completion:
            result = execute_sweep(
                prepared, on_completion=on_completion, on_rewrites=_show_rewrites
            )

    click.echo(format_table(result))
    failed = len(result.failures)
    if failed:
        click.echo(
            f"{failed} of {len(result.completions)} calls failed; "
            "their errors are in the output's error column.",
            err=True,
        )
        first = result.failures[0]
        click.echo(f"First error ({first.request.model}): {first.error}", err=True)
    if out is not None:
        click.echo(f"Wrote {len(result.completions)} rows to {out}", err=True)
    if failed == len(result.completions):
        sys.exit(1)


def _show_rewrites(rewrites: Sequence[Rewrite]) -> None:
    """Print each model-written variant on stderr before it is sent."""
    click.echo(f"\nModel-written variants ({rewrites[0].model}):", err=True)
    for rewrite in rewrites:
        if not rewrite.ok:
            click.echo(
                f"  {rewrite.variant_id}: not written, left out: {rewrite.error}",
                err=True,
            )
            continue
        flag = "  DRIFTED from the prompt's meaning" if rewrite.drifted else ""
        if rewrite.unchanged:
            flag = "  UNCHANGED: the same as the prompt"
        click.echo(
            f"  {rewrite.variant_id} (meaning kept {rewrite.similarity:.2f}){flag}:\n"
            f"    {rewrite.text}",
            err=True,
        )


def format_table(result: Any) -> str:
    """Divergence from the baseline, one row per variant, one column per model."""
    models = list(result.spec.models)
    shifts = {(s.model, s.variant_id): s for s in result.shifts}
    variant_ids = list(dict.fromkeys(s.variant_id for s in result.shifts))
    names = {v: f"{v} (drifted)" if v in result.drifted else v for v in variant_ids}
    width = max(len(v) for v in [*names.values(), "noise floor", "variant"])
    columns = [max(len(model), 8) for model in models]
    lines = [
        "  ".join(
            [f"{'variant':<{width}}"]
            + [f"{m:>{w}}" for m, w in zip(models, columns, strict=True)]
        )
    ]
    for variant_id in variant_ids:
        cells = [
            f"{_cell(shifts.get((model, variant_id))):>{w}}"
            for model, w in zip(models, columns, strict=True)
        ]
        lines.append("  ".join([f"{names[variant_id]:<{width}}", *cells]))
    if result.noise_floors:
        cells = [
            f"{_number(result.noise_floors.get(model)):>{w}}"
            for model, w in zip(models, columns, strict=True)
        ]
        lines.append("  ".join([f"{'noise floor':<{width}}", *cells]))
    return "\n".join(lines)


def _cell(shift: Any) -> str:
    if shift is None:
        return "-"
    if shift.answers == 0:
        return "failed"
    if shift.variant_id == BASELINE_ID and shift.answers == 1:
        return "baseline"
    text = _number(shift.shift)
    return f"{text}*" if shift.failures else text


def _number(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3f}"


@contextmanager
def _progress(total: int) -> Iterator[Callable[[Completion], None]]:
    with click.progressbar(
        length=total, label="Sweep", file=sys.stderr, show_pos=True
    ) as bar:

        def advance(completion: Completion) -> None:
            bar.update(1)

        yield advance


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Show the library's errors as one line, with no traceback."""
    try:
        yield
    except VariationsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


@main.command()
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "run_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder to write (must be new or empty).",
)
@click.option("--force", is_flag=True, help="Replace a non-empty run folder.")
@click.option("--concurrency", default=64, show_default=True, type=int)
@click.option(
    "--timeout", default=120.0, show_default=True, type=float, help="Seconds per call."
)
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-cache", is_flag=True, help="Ask every model afresh.")
def sweep(
    plan_file: Path,
    run_dir: Path,
    force: bool,
    concurrency: int,
    timeout: float,
    cache_dir: Path | None,
    no_cache: bool,
) -> None:
    """Run the sweep PLAN_FILE describes into a run folder, then summarise it."""
    from .fanout import FanOutLimits
    from .research import PlanOptions, format_report, run_plan
    from .sweep_plan import load_plan

    with _clear_errors():
        resolved = load_plan(plan_file)
        limits = FanOutLimits(
            concurrency=concurrency,
            per_model_concurrency=concurrency,
            timeout_s=timeout,
        )
        options = PlanOptions(
            cache_dir=cache_dir, use_cache=not no_cache, limits=limits, force=force
        )
        with _progress(resolved.cell_count()) as on_completion:
            saved = run_plan(resolved, run_dir, options, on_completion=on_completion)

    click.echo(format_report(saved))
    click.echo(f"Wrote run folder {run_dir}", err=True)
    failures = saved.manifest["counts"]["failures"]
    if failures and failures == saved.manifest["counts"]["answers"]:
        sys.exit(1)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--top", default=5, show_default=True, type=int, help="Variants shown.")
def report(run_dir: Path, top: int) -> None:
    """Summarise a saved run folder (or a zip of one) without calling models."""
    from .research import format_report
    from .run_store import load_run

    with _clear_errors():
        click.echo(format_report(load_run(run_dir), top=top))
