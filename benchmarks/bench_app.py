"""The app in headless Chromium: first paint, a cached sweep, server memory.

Prints medians against the targets of the app's issue:

- first paint: from /_stcore/health answering to the page's title drawn, on a
  freshly started server (target: under 3 s);
- a fully cached sweep of 20 prompts (19 variants + the original) x 3 models:
  from clicking Run to all three charts drawn again (target: under 2 s);
- the server's resident memory once the embedding model and the local chat
  model are both loaded (target: under 2 GB).

The cache is filled first through the library, against a loopback
OpenAI-compatible server, with the same settings the app's form sends.

    .venv/bin/python benchmarks/bench_app.py [--starts 3] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import (  # noqa: E402
    cache_dir_sharing_models,
    chart_count,
    launch_chromium,
    serve_app,
    wait_idle,
)

MODELS = ("openai/model-a", "openai/model-b", "openai/model-c")
PROMPT = "Should I quit my stable job to start my own business?"
TITLE = "How does the way you ask change the answer?"
CHARTS_DRAWN = """() => document.querySelectorAll(
    '.vega-embed svg, .vega-embed canvas').length >= 3"""
# Resolves once the script has run and stopped again with three charts on the
# page, after the next frame is painted.
WATCH_RUN = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    window.sweepDrawn = new Promise(resolve => {
        let seenRunning = false;
        const observer = new MutationObserver(() => {
            const state = app.getAttribute('data-test-script-state');
            seenRunning = seenRunning || state === 'running';
            const charts = document.querySelectorAll(
                '.vega-embed svg, .vega-embed canvas').length;
            if (seenRunning && state === 'notRunning' && charts >= 3) {
                observer.disconnect();
                requestAnimationFrame(() => requestAnimationFrame(resolve));
            }
        });
        observer.observe(app, {attributes: true});
    });
}"""
TARGETS = {"first paint": 3.0, "cached sweep": 2.0, "memory": 2.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3, help="server starts")
    parser.add_argument("--runs", type=int, default=5, help="cached sweeps")
    args = parser.parse_args()
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

    from playwright.sync_api import sync_playwright

    from variations.loopback import LoopbackServer

    with (
        tempfile.TemporaryDirectory() as scratch,
        LoopbackServer(latency_s=0.2) as models,
    ):
        cache_dir = cache_dir_sharing_models(Path(scratch) / "cache")
        env = {
            "VARIATIONS_MODELS": ",".join(MODELS),
            "VARIATIONS_API_BASE": models.url,
        }
        # Before Playwright: its sync API keeps an event loop running.
        query = fill_cache(cache_dir, models.url)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            paints = [first_paint(browser, cache_dir, env) for _ in range(args.starts)]
            with serve_app(cache_dir, env) as server:
                sweeps = cached_sweeps(
                    browser, server.url, query, args.runs, server.process.pid
                )
                memory_gb = memory_with_models(browser, server)
            browser.close()

    report("first paint", paints, "s")
    report("cached sweep", sweeps, "s")
    report("memory", [memory_gb], "GB")


def fill_cache(cache_dir: Path, api_base: str) -> dict[str, str]:
    """Answer and embed the benchmark's sweep once; return its share query."""
    os.environ["VARIATIONS_CACHE_DIR"] = str(cache_dir)
    from variations.cache import CompletionCache
    from variations.embeddings import Embedder
    from variations.providers import complete_with_litellm, release_clients
    from variations.settings import load_settings
    from variations.sharing import encode_share, make_form, sweep_spec
    from variations.sweep import build_requests, run_sweep
    from variations.variants import load_library

    library = load_library()
    settings = load_settings(
        {"VARIATIONS_MODELS": ",".join(MODELS), "VARIATIONS_API_BASE": api_base}
    )
    form = make_form(
        PROMPT,
        [variant.id for variant in library.variants[:19]],
        list(MODELS),
        samples=1,
        temperature=0.7,
        max_tokens=settings.default_max_tokens,
        settings=settings,
    )
    spec = sweep_spec(form, library, api_base=api_base)
    cache = CompletionCache(cache_dir)

    async def sweep() -> None:
        await run_sweep(spec, complete_with_litellm, Embedder(cache_dir), cache=cache)
        await release_clients()

    asyncio.run(sweep())
    cache.close()
    print(f"cache filled: {len(build_requests(spec))} answers, embedded")
    return encode_share(form)


def first_paint(browser: Any, cache_dir: Path, env: dict[str, str]) -> float:
    with serve_app(cache_dir, env) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(server.url)
        page.get_by_text(TITLE).wait_for()
        seconds = time.monotonic() - server.started_s
        page.close()
    print(f"first paint {seconds:.2f} s")
    return seconds


def cached_sweeps(
    browser: Any, url: str, query: dict[str, str], runs: int, server_pid: int
) -> list[float]:
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    started = time.monotonic()
    page.goto(f"{url}/?{urlencode(query)}")
    page.get_by_text("All answers").wait_for(timeout=120_000)
    page.wait_for_function(f"({CHARTS_DRAWN})()")
    print(
        f"share link, first draw on a fresh server: "
        f"{time.monotonic() - started:.2f} s (no target)"
    )
    wait_idle(page)
    wait_for_warm_up(server_pid)
    timings = []
    for _ in range(runs):
        page.evaluate(WATCH_RUN)
        started = time.monotonic()
        page.get_by_role("button", name="Run", exact=True).click()
        page.evaluate("window.sweepDrawn")
        timings.append(time.monotonic() - started)
        print(f"cached sweep {timings[-1]:.2f} s ({chart_count(page)} charts)")
    page.close()
    return timings


def wait_for_warm_up(pid: int, *, limit_s: float = 180) -> None:
    """Wait until the server's background model loading has settled.

    The first page view starts loading both models in a background thread;
    timing sweeps while it runs measures the loading, not the app.
    """
    import psutil

    process = psutil.Process(pid)
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if process.cpu_percent(interval=1.0) < 10:
            break
    print(f"server settled after {time.monotonic() - started:.0f} s of warm-up")


def memory_with_models(browser: Any, server: Any) -> float:
    """Run a tiny sweep on the local model, then read the server's memory."""
    import psutil

    from variations.providers import LOCAL_MODEL

    query = {
        "prompt": "Is tea good for you?",
        "variants": "polite",
        "models": LOCAL_MODEL,
        "max_tokens": "8",
    }
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{server.url}/?{urlencode(query)}")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("All answers").wait_for(timeout=300_000)
    page.close()
    process = psutil.Process(server.process.pid)
    rss = process.memory_info().rss + sum(
        child.memory_info().rss for child in process.children(recursive=True)
    )
    print(f"server memory with both models: {rss / 1e9:.2f} GB")
    return rss / 1e9


def report(name: str, values: list[float], unit: str) -> None:
    median = statistics.median(values)
    target = TARGETS[name]
    verdict = "meets" if median < target else "MISSES"
    print(
        f"{name:<14} median {median:.2f} {unit} over {len(values)} "
        f"(min {min(values):.2f}, max {max(values):.2f}); "
        f"target < {target:g} {unit}: {verdict}"
    )


if __name__ == "__main__":
    main()
