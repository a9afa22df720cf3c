"""Speed of a run's metrics: every table of a 1,875-answer sweep.

5 prompts x (24 variants + the baseline) x 3 models x 5 samples = 1,875
answers with their embeddings already computed (random 384-d unit vectors
around one centre per variant, fixed seed), 1,000 permutations and 1,000
bootstraps. Times `analyse_run` (every cell tested, pooled, ranked) and the
same from a saved run folder (`load_run` then `metrics_of`). Prints the
median of a few runs against the 3 s target.

    .venv/bin/python benchmarks/bench_research.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from variations.records import BASELINE_ID
from variations.research import metrics_of
from variations.run_analysis import AnalysisSettings, analyse_run
from variations.run_store import RUN_FORMAT, RUN_FORMAT_VERSION, load_run, write_run

PROMPTS, VARIANTS, MODELS, SAMPLES = 5, 24, 3, 5
DIMENSIONS = 384
SETTINGS = AnalysisSettings(permutations=1000, bootstraps=1000, seed=0)
TARGET_S = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rows, vectors = make_answers()
    print(
        f"{PROMPTS} prompts x {VARIANTS + 1} prompt texts x {MODELS} models x"
        f" {SAMPLES} samples = {len(rows)} answers, {SETTINGS.permutations}"
        f" permutations and {SETTINGS.bootstraps} bootstraps"
    )
    in_memory = [timed(lambda: analyse_run(rows, vectors, SETTINGS))]
    with tempfile.TemporaryDirectory() as folder:
        run_dir = save(Path(folder) / "run", rows, vectors)
        from_disk = [timed(lambda: metrics_of(load_run(run_dir)))]
        for _ in range(args.repeats - 1):
            in_memory.append(timed(lambda: analyse_run(rows, vectors, SETTINGS)))
            from_disk.append(timed(lambda: metrics_of(load_run(run_dir))))

    memory_s, disk_s = statistics.median(in_memory), statistics.median(from_disk)
    verdict = "met" if max(memory_s, disk_s) < TARGET_S else "MISSED"
    print(f"median of {args.repeats} runs")
    print(f"  analyse_run (in memory):         {memory_s:.3f} s")
    print(f"  load_run + metrics (from disk):  {disk_s:.3f} s")
    print(f"target: < {TARGET_S:.0f} s ({verdict})")


def make_answers() -> tuple[list[dict[str, Any]], np.ndarray]:
    """Answers in plan order with one random centre per prompt x model x variant."""
    rng = np.random.default_rng(0)
    names = [BASELINE_ID] + [f"variant-{index:02d}" for index in range(VARIANTS)]
    rows: list[dict[str, Any]] = []
    blocks = []
    for prompt in range(PROMPTS):
        for model in range(MODELS):
            base = rng.normal(size=DIMENSIONS)
            for name in names:
                centre = base + rng.normal(scale=0.3, size=DIMENSIONS)
                blocks.append(
                    centre + rng.normal(scale=0.5, size=(SAMPLES, DIMENSIONS))
                )
                rows.extend(
                    {
                        "row": len(rows) + sample,
                        "prompt_id": f"p{prompt}",
                        "model": f"model-{model}",
                        "variant": name,
                        "sample": sample,
                        "error": None,
                    }
                    for sample in range(SAMPLES)
                )
    vectors = np.concatenate(blocks)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return rows, vectors.astype(np.float32)


def save(run_dir: Path, rows: list[dict[str, Any]], vectors: np.ndarray) -> Path:
    manifest = {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "analysis": {
            "permutations": SETTINGS.permutations,
            "bootstraps": SETTINGS.bootstraps,
            "seed": SETTINGS.seed,
            "alpha": SETTINGS.alpha,
        },
    }
    metrics = analyse_run(rows, vectors, SETTINGS)
    return write_run(
        run_dir, manifest=manifest, rows=rows, vectors=vectors, metrics=metrics
    )


def timed(work: Any) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
