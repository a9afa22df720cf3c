"""Fan-out speed against a loopback server: 20 variants x 3 models = 60 calls.

Prints, as medians of several runs in one process (the machines are noisy, so
compare the ratios): bare concurrent HTTP calls, the in-process fan-out cold
and warm, and the whole `variations run` process cold and warm.

    .venv/bin/python benchmarks/bench_fanout.py [--latency 0.5] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

MODELS = ("openai/model-a", "openai/model-b", "openai/model-c")
PROMPT = "Should I learn Python or JavaScript first?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

    server, url = start_server(args.latency)
    try:
        report(url, args.repeats)
    finally:
        server.terminate()


def report(url: str, repeats: int) -> None:
    from variations.cache import CompletionCache
    from variations.embeddings import Embedder
    from variations.providers import complete_with_litellm, import_litellm
    from variations.records import GenerationParams
    from variations.sweep import SweepSpec, build_requests, run_sweep
    from variations.variants import load_library

    variants = load_library().variants[:19]  # + the baseline = 20 prompts
    spec = SweepSpec(
        prompt=PROMPT,
        variants=variants,
        models=MODELS,
        params=GenerationParams(api_base=url, max_tokens=32),
    )
    calls = len(build_requests(spec))
    print(f"{calls} calls, server latency from {url}")

    bare = [asyncio.run(bare_http(url, calls)) for _ in range(repeats)]
    started = time.perf_counter()
    import_litellm()
    print(
        f"import litellm (excluded from in-process figures): {time.perf_counter() - started:.2f} s"
    )
    embedder = Embedder(Path(tempfile.mkdtemp()))
    started = time.perf_counter()
    # Wait for the model: loading in the background, it ran over the first cold
    # fan-out (3.3 s instead of ~1 s), a figure the bare runs never pay.
    embedder.preload()
    embedder.embed(["warm-up"])
    print(
        f"load the embedding model (excluded too): {time.perf_counter() - started:.2f} s"
    )

    cold, warm = [], []
    for _ in range(repeats):
        cache = CompletionCache(Path(tempfile.mkdtemp()))
        started = time.perf_counter()
        asyncio.run(run_fanout(spec, complete_with_litellm, cache))
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        asyncio.run(run_sweep(spec, complete_with_litellm, embedder, cache=cache))
        warm.append(time.perf_counter() - started)

    process_cold = [
        run_process(url, Path(tempfile.mkdtemp())) for _ in range(max(2, repeats // 2))
    ]
    warm_dir = Path(tempfile.mkdtemp())
    run_process(url, warm_dir)
    process_warm = [run_process(url, warm_dir) for _ in range(repeats)]

    median_bare = statistics.median(bare)
    rows = [
        ("bare concurrent HTTP (httpx, one client)", bare, None),
        ("fan-out in-process, cold cache", cold, 1.3),
        ("sweep in-process, warm cache (+ scoring)", warm, None),
        ("`variations run` process, warm", process_warm, None),
        ("`variations run` process, cold (+ embeddings)", process_cold, None),
    ]
    for label, times, _ in rows:
        median = statistics.median(times)
        print(
            f"{label:<48} median {median:6.3f} s  ({median / median_bare:5.2f}x bare)  n={len(times)}"
        )
    print(
        "targets: cold fan-out <= 1.3x bare; warm in-process < 0.1 s; warm process < 1.5 s; cold process < 12 s"
    )


async def bare_http(url: str, calls: int) -> float:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 32,
    }
    async with httpx.AsyncClient(
        timeout=30, limits=httpx.Limits(max_connections=calls)
    ) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(
            *(client.post(f"{url}/chat/completions", json=body) for _ in range(calls))
        )
        elapsed = time.perf_counter() - started
    assert all(r.status_code == 200 for r in responses)
    return elapsed


async def run_fanout(spec, complete, cache) -> None:  # type: ignore[no-untyped-def]
    from variations.fanout import fan_out
    from variations.sweep import build_requests

    completions = [
        c async for c in fan_out(build_requests(spec), complete, cache=cache)
    ]
    failed = [c for c in completions if not c.ok]
    assert not failed, failed[0].error


def run_process(url: str, cache_dir: Path) -> float:
    command = [
        sys.executable,
        "-m",
        "variations",
        "run",
        PROMPT,
        *[part for model in MODELS for part in ("-m", model)],
        "--api-base",
        url,
        "--max-tokens",
        "32",
        "--variants",
        ",".join(v.id for v in __import__("variations").load_library().variants[:19]),
        "--cache-dir",
        str(cache_dir),
        "--out",
        str(cache_dir / "out.csv"),
    ]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "variations.loopback",
            "--port",
            "0",
            "--latency",
            str(latency),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip().split()[-1]
    return server, url


if __name__ == "__main__":
    main()
