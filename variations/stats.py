"""Significance of divergence: a variant's effect told apart from sampling noise.

Every function takes a precomputed distance matrix (1 - cosine: symmetric, zero
diagonal) and one label per answer, so nothing here depends on the embedder.
Permutations are drawn in batches and scored with array gathers, never a Python
loop per permutation: a 1,875-answer sweep takes about 0.35 s of CPU.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

import numpy as np
import numpy.typing as npt

from .errors import ConfigurationError
from .records import BASELINE_ID

Matrix = npt.NDArray[np.float64]
Indices = npt.NDArray[np.intp]

# Permuted statistics that differ from the observed one by summation order only
# must count as ties, so comparisons allow this share of the total distance.
_TIE_TOLERANCE = 1e-10
# Distances gathered at once (permutations x within pairs), to bound memory.
_GATHER_CHUNK = 2**21


@dataclass(frozen=True)
class ShiftTest:
    """A variant's shift from the baseline, weighed against sampling noise.

    `shift` is the mean distance over (variant sample, baseline sample) pairs;
    `noise_floor` the mean distance between repeated samples that `ratio`
    divides by (inf when the floor is 0 and the shift is not, 0 when both are).
    `p_value` is None when neither group has two samples: nothing to compare
    the shift with. `exact` says every distinct relabelling was enumerated.
    """

    shift: float
    noise_floor: float | None
    ratio: float | None
    p_value: float | None
    permutations: int
    exact: bool


@dataclass(frozen=True)
class Permanova:
    """PERMANOVA over one distance matrix: how much the label explains.

    `pseudo_f` is None and `p_value` None when the test is undefined: a single
    group, or one answer per group (no within-group variance to compare with).
    """

    pseudo_f: float | None
    r_squared: float
    p_value: float | None
    permutations: int


@dataclass(frozen=True)
class Interval:
    """A point estimate with a bootstrap interval (None when too few units)."""

    value: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class VariantShift:
    """One variant's row in a model's analysis."""

    variant: str
    samples: int
    shift: float
    ratio: float | None
    p_value: float | None
    adjusted_p_value: float | None
    significant: bool


@dataclass(frozen=True)
class ModelAnalysis:
    """Everything measured on one model's answers to one prompt's variants."""

    noise_floor: float | None
    variants: tuple[VariantShift, ...]
    permanova: Permanova
    sensitivity: Interval | None


@dataclass(frozen=True)
class VariantRank:
    """How often a variant moved answers beyond noise, over prompt x model cells.

    `cells` counts the cells where the variant could be tested (p-value known).
    """

    variant: str
    cells: int
    significant_cells: int
    fraction: float
    mean_ratio: float | None


def noise_floor(distances: npt.ArrayLike, labels: Sequence[Hashable]) -> float | None:
    """Mean distance between repeated samples of the same label.

    Pooled over every pair of same-label answers, so labels with more samples
    weigh more; None when no label has two samples.
    """
    matrix = _check_matrix(distances, len(labels))
    return _noise_floor(matrix, _encode(labels)[1])


def shift_test(
    distances: npt.ArrayLike,
    baseline_idx: Sequence[int] | Indices,
    variant_idx: Sequence[int] | Indices,
    *,
    permutations: int = 1000,
    seed: int = 0,
    noise_floor: float | None = None,
) -> ShiftTest:
    """Test whether variant answers lie further from the baseline than noise.

    The statistic is the shift minus the pooled within-group distance of the
    two groups (zero on average when the variant changes nothing). Labels are
    shuffled between the pooled samples; when there are no more distinct
    splits than `permutations`, all of them are enumerated (an exact test).
    `noise_floor` overrides the floor the ratio divides by, e.g. a model's
    floor pooled over all its variants.
    """
    _check_count("permutations", permutations)
    baseline = np.asarray(baseline_idx, dtype=np.intp)
    variant = np.asarray(variant_idx, dtype=np.intp)
    matrix = _check_matrix(distances, None)
    _check_groups(baseline, variant, len(matrix))
    rng = np.random.default_rng(seed)
    return _shift_test(matrix, baseline, variant, permutations, rng, noise_floor)


def permanova(
    distances: npt.ArrayLike,
    labels: Sequence[Hashable],
    *,
    permutations: int = 999,
    seed: int = 0,
) -> Permanova:
    """Anderson's PERMANOVA on squared distances, labels permuted.

    R² is the share of the total sum of squares that lies between labels.
    """
    _check_count("permutations", permutations)
    matrix = _check_matrix(distances, len(labels))
    rng = np.random.default_rng(seed)
    return _permanova(matrix, _encode(labels)[1], permutations, rng)


def sensitivity_index(
    distances: npt.ArrayLike,
    *,
    labels: Sequence[Hashable] | None = None,
    bootstraps: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval | None:
    """Mean pairwise distance among all answers, with a percentile bootstrap.

    The embedding form of ProSA's PromptSensiScore. Without labels, answers are
    resampled; with labels, whole labels (variants) are, which is the honest
    unit when the question is how the model reacts to other rewrites. None
    with fewer than two answers; no bounds with fewer than three units.
    """
    _check_count("bootstraps", bootstraps)
    if not 0 < confidence < 1:
        raise ConfigurationError(
            f"confidence must lie strictly between 0 and 1, got {confidence!r}"
        )
    size = None if labels is None else len(labels)
    matrix = _check_matrix(distances, size)
    codes = np.arange(len(matrix)) if labels is None else _encode(labels)[1]
    rng = np.random.default_rng(seed)
    return _sensitivity_index(matrix, codes, bootstraps, confidence, rng)


def adjust_pvalues_bh(p_values: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate).

    Missing p-values stay None and do not count among the tests.
    """
    present = [index for index, value in enumerate(p_values) if value is not None]
    values = np.array([p_values[index] for index in present], dtype=np.float64)
    if np.any((values < 0) | (values > 1)):
        raise ConfigurationError(f"p-values must lie in [0, 1], got {p_values!r}")

    order = np.argsort(values, kind="stable")
    ranks = np.arange(1, len(values) + 1)
    scaled = values[order] * len(values) / ranks
    adjusted = np.empty_like(values)
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)

    result: list[float | None] = list(p_values)
    for index, value in zip(present, adjusted.tolist(), strict=True):
        result[index] = value
    return result


def analyse_model(
    distances: npt.ArrayLike,
    labels: Sequence[str],
    *,
    baseline: str = BASELINE_ID,
    alpha: float = 0.05,
    adjust: bool = True,
    permutations: int = 1000,
    bootstraps: int = 1000,
    seed: int = 0,
) -> ModelAnalysis:
    """Shift tests of every variant against the baseline, PERMANOVA, sensitivity.

    Ratios divide by the model's noise floor pooled over all labels. With
    `adjust`, a variant is significant when its Benjamini-Hochberg adjusted
    p-value is below `alpha`. No baseline answers: no variant rows. The
    sensitivity interval resamples whole labels (95%).
    """
    _check_count("permutations", permutations)
    _check_count("bootstraps", bootstraps)
    matrix = _check_matrix(distances, len(labels))
    names, codes = _encode(labels)
    rng = np.random.default_rng(seed)

    floor = _noise_floor(matrix, codes)
    tests = _variant_tests(matrix, names, codes, baseline, permutations, rng, floor)
    rows = _variant_rows(tests, alpha=alpha, adjust=adjust)

    return ModelAnalysis(
        noise_floor=floor,
        variants=tuple(rows),
        permanova=_permanova(matrix, codes, permutations, rng),
        sensitivity=_sensitivity_index(matrix, codes, bootstraps, 0.95, rng),
    )


def rank_variants(analyses: Iterable[ModelAnalysis]) -> list[VariantRank]:
    """Variants ranked by the share of cells they moved beyond noise.

    Ties break on the mean ratio to the noise floor, then on the name.
    """
    rows_by_variant: dict[str, list[VariantShift]] = {}
    for analysis in analyses:
        for row in analysis.variants:
            rows_by_variant.setdefault(row.variant, []).append(row)

    ranks = [_rank(variant, rows) for variant, rows in rows_by_variant.items()]
    return sorted(ranks, key=_rank_order)


def _shift_test(
    matrix: Matrix,
    baseline: Indices,
    variant: Indices,
    permutations: int,
    rng: np.random.Generator,
    floor: float | None,
) -> ShiftTest:
    pooled = np.concatenate([baseline, variant])
    sub = matrix[np.ix_(pooled, pooled)]
    sizes = (len(baseline), len(variant))
    shift = float(sub[: sizes[0], sizes[0] :].mean())
    first, second = _within_pairs(np.repeat([0, 1], sizes))
    local_floor = float(sub[first, second].mean()) if len(first) else None
    floor = local_floor if floor is None else floor
    ratio = _ratio(shift, floor)
    if not len(first):
        return ShiftTest(shift, floor, ratio, None, permutations=0, exact=False)

    # With the pooled samples fixed, the cross sum is the total minus the
    # within sums, so "shift minus pooled within distance" falls as the within
    # sum rises: comparing within sums gives the same p-value, cheaper.
    orders, exact = _relabellings(sizes, permutations, rng)
    weights = np.ones(len(first))
    within = _within_sums(sub, first, second, weights, orders)
    observed = float(sub[first, second].sum())
    p_value = _p_value(within, observed, _upper_sum(sub), exact=exact)
    return ShiftTest(shift, floor, ratio, p_value, len(orders), exact)


def _permanova(
    matrix: Matrix, codes: Indices, permutations: int, rng: np.random.Generator
) -> Permanova:
    answers, groups = len(codes), int(codes.max(initial=-1)) + 1
    squared = matrix**2
    total = _upper_sum(squared) / answers if answers else 0.0
    first, second = _within_pairs(codes)
    weights = 1.0 / np.bincount(codes)[codes[first]]
    within = float(squared[first, second] @ weights)
    among = max(total - within, 0.0)
    r_squared = among / total if total > 0 and groups > 1 else 0.0
    if groups < 2 or answers == groups:
        return Permanova(None, r_squared, None, permutations=0)

    pseudo_f = _pseudo_f(among, within, groups - 1, answers - groups)
    # The total sum of squares does not change under relabelling, so a larger
    # pseudo-F is exactly a smaller within-label sum of squares.
    orders = rng.permuted(np.tile(np.arange(answers), (permutations, 1)), axis=1)
    permuted = _within_sums(squared, first, second, weights, orders)
    p_value = _p_value(permuted, within, total, exact=False)
    return Permanova(pseudo_f, r_squared, p_value, permutations)


def _sensitivity_index(
    matrix: Matrix,
    codes: Indices,
    bootstraps: int,
    confidence: float,
    rng: np.random.Generator,
) -> Interval | None:
    answers = len(matrix)
    if answers < 2:
        return None
    value = float(matrix.sum()) / (answers * (answers - 1))
    units = int(codes.max()) + 1
    if units < 3:
        return Interval(value, None, None)

    # Each draw weighs every unit by how often it was drawn, so distances are
    # summed once per pair of units and a draw costs units², not answers².
    # Pairs of an answer with its own copy are left out, as the point estimate
    # leaves out the diagonal; counting them as 0 would bias the index down.
    draws = rng.integers(units, size=(bootstraps, units))
    offsets = np.arange(bootstraps)[:, None] * units
    counts = np.bincount((draws + offsets).ravel(), minlength=bootstraps * units)
    weights = counts.reshape(bootstraps, units).astype(np.float64)
    sizes = np.bincount(codes, minlength=units).astype(np.float64)
    unit_pairs = (codes[:, None] * units + codes[None, :]).ravel()
    sums = np.bincount(unit_pairs, weights=matrix.ravel(), minlength=units**2)
    numerators = ((weights @ sums.reshape(units, units)) * weights).sum(axis=1)
    denominators = (weights @ sizes) ** 2 - (weights**2) @ sizes
    valid = denominators > 0
    if not valid.any():
        return Interval(value, None, None)

    estimates = numerators[valid] / denominators[valid]
    tail = (1 - confidence) / 2
    low, high = np.quantile(estimates, [tail, 1 - tail])
    return Interval(value, float(low), float(high))


def _variant_tests(
    matrix: Matrix,
    names: list[Hashable],
    codes: Indices,
    baseline: str,
    permutations: int,
    rng: np.random.Generator,
    floor: float | None,
) -> list[tuple[str, int, ShiftTest]]:
    if baseline not in names:
        return []
    baseline_rows = np.flatnonzero(codes == names.index(baseline))
    tests = []
    for code, name in enumerate(names):
        if name == baseline:
            continue
        rows = np.flatnonzero(codes == code)
        test = _shift_test(matrix, baseline_rows, rows, permutations, rng, floor)
        tests.append((str(name), len(rows), test))
    return tests


def _variant_rows(
    tests: list[tuple[str, int, ShiftTest]], *, alpha: float, adjust: bool
) -> list[VariantShift]:
    p_values = [test.p_value for _, _, test in tests]
    adjusted = adjust_pvalues_bh(p_values) if adjust else [None] * len(tests)
    rows = []
    for (name, samples, test), q_value in zip(tests, adjusted, strict=True):
        decisive = q_value if adjust else test.p_value
        rows.append(
            VariantShift(
                variant=name,
                samples=samples,
                shift=test.shift,
                ratio=test.ratio,
                p_value=test.p_value,
                adjusted_p_value=q_value,
                significant=decisive is not None and decisive < alpha,
            )
        )
    return rows


def _rank(variant: str, rows: list[VariantShift]) -> VariantRank:
    tested = [row for row in rows if row.p_value is not None]
    significant = sum(row.significant for row in tested)
    ratios = [row.ratio for row in rows if row.ratio is not None]
    return VariantRank(
        variant=variant,
        cells=len(tested),
        significant_cells=significant,
        fraction=significant / len(tested) if tested else 0.0,
        mean_ratio=math.fsum(ratios) / len(ratios) if ratios else None,
    )


def _rank_order(rank: VariantRank) -> tuple[float, float, str]:
    ratio = -math.inf if rank.mean_ratio is None else rank.mean_ratio
    return (-rank.fraction, -ratio, rank.variant)


def _noise_floor(matrix: Matrix, codes: Indices) -> float | None:
    first, second = _within_pairs(codes)
    return float(matrix[first, second].mean()) if len(first) else None


def _relabellings(
    sizes: tuple[int, int], permutations: int, rng: np.random.Generator
) -> tuple[Indices, bool]:
    """Orders of the pooled samples: all distinct splits if few, else random."""
    answers = sum(sizes)
    if math.comb(answers, sizes[0]) <= permutations:
        return _all_splits(*sizes), True
    pooled = np.tile(np.arange(answers), (permutations, 1))
    return rng.permuted(pooled, axis=1), False


@lru_cache(maxsize=64)
def _all_splits(first_size: int, second_size: int) -> Indices:
    everyone = range(first_size + second_size)
    orders = [
        [*chosen, *(i for i in everyone if i not in chosen)]
        for chosen in combinations(everyone, first_size)
    ]
    splits = np.array(orders, dtype=np.intp)
    splits.setflags(write=False)
    return splits


def _within_sums(
    matrix: Matrix,
    first: Indices,
    second: Indices,
    weights: npt.NDArray[np.float64],
    orders: Indices,
) -> npt.NDArray[np.float64]:
    """Weighted within-label distance sums, one per reordering of the answers.

    Labels stay at their positions and answers move: pair (i, j) of a label
    reads the distance between the answers moved to positions i and j.
    """
    chunk = max(1, _GATHER_CHUNK // max(len(first), 1))
    sums = [
        matrix[block[:, first], block[:, second]] @ weights
        for block in np.array_split(orders, range(chunk, len(orders), chunk))
    ]
    return np.concatenate(sums)


def _within_pairs(codes: Indices) -> tuple[Indices, Indices]:
    first, second = np.triu_indices(len(codes), k=1)
    same = codes[first] == codes[second]
    return first[same], second[same]


def _p_value(
    within: npt.NDArray[np.float64], observed: float, scale: float, *, exact: bool
) -> float:
    """Share of relabellings at least as extreme: a within sum no larger."""
    extreme = int(np.count_nonzero(within <= observed + _TIE_TOLERANCE * scale))
    if exact:
        return extreme / len(within)
    return (1 + extreme) / (1 + len(within))


def _pseudo_f(among: float, within: float, among_df: int, within_df: int) -> float:
    if within > 0:
        return (among / among_df) / (within / within_df)
    return math.inf if among > 0 else 0.0


def _ratio(shift: float, floor: float | None) -> float | None:
    if floor is None:
        return None
    if floor > 0:
        return shift / floor
    return math.inf if shift > 0 else 0.0


def _upper_sum(matrix: Matrix) -> float:
    return float(np.triu(matrix, k=1).sum())


def _encode(labels: Iterable[Hashable]) -> tuple[list[Hashable], Indices]:
    """Distinct labels in order of first appearance, and each answer's code."""
    codes: dict[Hashable, int] = {}
    indices = [codes.setdefault(label, len(codes)) for label in labels]
    return list(codes), np.array(indices, dtype=np.intp)


def _check_matrix(distances: npt.ArrayLike, size: int | None) -> Matrix:
    matrix = np.asarray(distances, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ConfigurationError(
            f"distances must be a square matrix, got shape {matrix.shape}"
        )
    if size is not None and size != len(matrix):
        raise ConfigurationError(
            f"got {size} labels for a {len(matrix)}x{len(matrix)} distance matrix;"
            " give one label per answer"
        )
    return matrix


def _check_groups(baseline: Indices, variant: Indices, size: int) -> None:
    pooled = np.concatenate([baseline, variant])
    if not len(baseline) or not len(variant):
        raise ConfigurationError(
            "shift_test needs at least one baseline and one variant answer,"
            f" got {len(baseline)} and {len(variant)}"
        )
    if pooled.min() < 0 or pooled.max() >= size:
        raise ConfigurationError(
            f"answer indices must lie in [0, {size}), got {pooled.tolist()}"
        )
    if len(np.unique(pooled)) != len(pooled):
        raise ConfigurationError(
            "an answer cannot be both baseline and variant, nor appear twice:"
            f" got {baseline.tolist()} and {variant.tolist()}"
        )


def _check_count(name: str, value: int) -> None:
    if value < 1:
        raise ConfigurationError(f"{name} must be at least 1, got {value!r}")
