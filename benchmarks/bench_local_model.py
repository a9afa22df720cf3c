"""Speed and memory of the embedded chat model (local/smollm2-135m) on this machine.

Prints the load time from the converted folder, a sweep of 9 prompts (an original
and 8 variants) x 96 new tokens sent concurrently through agenerate, the same
original prompt alone for comparison, and the peak RSS of the process. Targets:
the sweep under 20 s, peak memory under 2 GB. With --compare-hf, also times
transformers' own generate on the same prompts (after the RSS figure, since it
loads a second copy of the model).

The machines are shared, so each phase shows CPU seconds beside wall seconds: the
decoder uses one core, so on an idle machine its wall time is about its CPU time.

    .venv/bin/python benchmarks/bench_local_model.py [--cache-dir DIR] [--tokens 96]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ORIGINAL = "Should I learn Python or JavaScript first?"
VARIANTS = (
    ORIGINAL,
    "Could you kindly tell me whether I should learn Python or JavaScript first?",
    "Just answer, no fluff: Python or JavaScript first? Stop wasting my time.",
    "URGENT: I start a job on Monday. Python or JavaScript first? Answer now!",
    "As a senior software engineer, which would you teach first: Python or JavaScript?",
    "I'm 10 years old and I want to make games. Should I learn Python or "
    "JavaScript first?",
    "Python is obviously the better first language, isn't it?",
    "Since JavaScript is no longer used on the web, should I learn Python first?",
    "Respond formally: which programming language, Python or JavaScript, "
    "ought a beginner to study first?",
)
TEMPERATURE = 0.7
SEED = 1234


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--compare-hf", action="store_true")
    args = parser.parse_args()

    from variations.cache import default_cache_dir
    from variations.local_model import load_local_model, prepare_local_model

    cache_dir = args.cache_dir or default_cache_dir()
    show("load average (1 min) at start", os.getloadavg()[0], "")
    timed("conversion (0 if already done)", lambda: prepare_local_model(cache_dir))
    timed("import torch + transformers", import_torch_and_transformers)
    model = timed("load from converted folder", lambda: load_local_model(cache_dir))

    single = measure("single prompt", lambda: run_prompts(model, 1, args.tokens))
    sweep = measure(
        f"sweep of {len(VARIANTS)} prompts",
        lambda: run_prompts(model, len(VARIANTS), args.tokens),
    )
    show("sweep / single tokens per s", sweep / single, "x")
    show("batches run (expect 2)", model.batches_run, "")
    show("load average (1 min) at end", os.getloadavg()[0], "")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    show("peak RSS", peak_mb, "MB")

    if args.compare_hf:
        compare_with_hf_generate(model.folder, args.tokens, sweep)


def import_torch_and_transformers() -> None:
    import torch
    import transformers

    del torch, transformers


def run_prompts(model: Any, count: int, max_tokens: int) -> int:
    """Send the first `count` prompts concurrently; return the new tokens."""

    async def gather() -> list[Any]:
        return await asyncio.gather(
            *(
                model.agenerate(
                    [{"role": "user", "content": prompt}],
                    temperature=TEMPERATURE,
                    max_tokens=max_tokens,
                    seed=SEED + index,
                )
                for index, prompt in enumerate(VARIANTS[:count])
            )
        )

    return sum(result.completion_tokens for result in asyncio.run(gather()))


def compare_with_hf_generate(folder: Path, max_tokens: int, ours: float) -> None:
    """Time transformers' generate on the same prompts, with its default threads."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    hf_model = AutoModelForCausalLM.from_pretrained(folder)

    def generate(count: int) -> int:
        texts = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}],
                add_generation_prompt=True,
                tokenize=False,
            )
            for prompt in VARIANTS[:count]
        ]
        inputs = tokenizer(texts, return_tensors="pt", padding=True)
        torch.manual_seed(SEED)
        output = hf_model.generate(
            **inputs,
            do_sample=True,
            temperature=TEMPERATURE,
            top_k=50,
            max_new_tokens=max_tokens,
        )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return int((new_tokens != tokenizer.pad_token_id).sum())

    hf_single = measure("hf generate, single prompt", lambda: generate(1))
    hf_sweep = measure("hf generate, 9 prompts", lambda: generate(len(VARIANTS)))
    show("hf generate: sweep / single", hf_sweep / hf_single, "x")
    show("ours / hf generate, sweep tokens per s", ours / hf_sweep, "x")


def measure(label: str, run: Callable[[], int]) -> float:
    """Run, print wall and CPU seconds and speed; return tokens per wall second."""
    cpu_before, started = cpu_seconds(), time.perf_counter()
    tokens = run()
    wall_s, cpu_s = time.perf_counter() - started, cpu_seconds() - cpu_before
    show(f"{label}: new tokens", tokens, "")
    show(f"{label}: wall", wall_s, "s")
    show(f"{label}: CPU", cpu_s, "s")
    show(f"{label}: tokens per wall s", tokens / wall_s, "tokens/s")
    show(f"{label}: tokens per CPU s", tokens / cpu_s, "tokens/s")
    return tokens / wall_s


def timed(label: str, run: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = run()
    show(label, time.perf_counter() - started, "s")
    return result


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def show(label: str, value: float, unit: str) -> None:
    shown = f"{value:.2f}" if isinstance(value, float) else str(value)
    sys.stdout.write(f"{label:<42} {shown:>9} {unit}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
