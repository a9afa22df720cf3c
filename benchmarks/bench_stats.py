"""Speed of the significance pass over a whole synthetic sweep.

5 prompts x (24 variants + the baseline) x 3 models x 5 samples = 1,875 answers,
random 384-d unit vectors (fixed seed), 1,000 permutations and bootstraps. Prints
the median wall time of a few runs of the whole pass (distance matrices, the
analysis of every prompt x model cell, the ranking over all cells) and of its
first step alone. Target: whole pass under 3 s.

With 5 samples a shift test has 252 distinct splits, fewer than 1,000, so it
enumerates them all; from 7 samples on it draws 1,000 random permutations.

    .venv/bin/python benchmarks/bench_stats.py [--samples 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from variations.metrics import distance_matrix
from variations.records import BASELINE_ID
from variations.stats import analyse_model, rank_variants

PROMPTS, VARIANTS, MODELS = 5, 24, 3
DIMENSIONS = 384
PERMUTATIONS = 1000
TARGET_S = 3.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    names = [BASELINE_ID] + [f"variant-{index:02d}" for index in range(VARIANTS)]
    labels = [name for name in names for _ in range(args.samples)]
    cells = make_cells(len(labels))
    print(
        f"{PROMPTS} prompts x {len(names)} prompt texts x {MODELS} models"
        f" x {args.samples} samples = {len(cells) * len(labels)} answers,"
        f" {PERMUTATIONS} permutations and bootstraps"
    )

    timings = [run_once(cells, labels) for _ in range(args.repeats)]
    distances_s, total_s, cpu_s = (
        statistics.median(t) for t in zip(*timings, strict=True)
    )
    verdict = "met" if total_s < TARGET_S else "MISSED"
    print(f"median of {args.repeats} runs")
    print(f"  distance matrices: {distances_s:.3f} s")
    print(f"  whole pass:        {total_s:.3f} s ({cpu_s:.3f} s of CPU)")
    print(f"target: whole pass < {TARGET_S:.0f} s ({verdict})")


def make_cells(answers: int) -> list[np.ndarray]:
    """Random unit vectors for every prompt x model cell."""
    rng = np.random.default_rng(20240501)
    cells = []
    for _ in range(PROMPTS * MODELS):
        vectors = rng.standard_normal((answers, DIMENSIONS))
        cells.append(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    return cells


def run_once(cells: list[np.ndarray], labels: list[str]) -> tuple[float, float, float]:
    """Seconds for the distance matrices, the whole pass, and its CPU time.

    CPU time is printed too because wall time on a shared machine swings with
    the other processes (2-4x on a busy 2-core box).
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    matrices = [distance_matrix(vectors) for vectors in cells]
    distances_done = time.perf_counter()
    analyses = [
        analyse_model(
            matrix,
            labels,
            permutations=PERMUTATIONS,
            bootstraps=PERMUTATIONS,
            seed=seed,
        )
        for seed, matrix in enumerate(matrices)
    ]
    rank_variants(analyses)
    finished, cpu_finished = time.perf_counter(), time.process_time()
    return distances_done - started, finished - started, cpu_finished - cpu_started


if __name__ == "__main__":
    main()
