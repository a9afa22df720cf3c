from __future__ import annotations

import math
from collections.abc import Callable
from itertools import combinations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from variations.errors import ConfigurationError
from variations.metrics import distance_matrix
from variations.records import BASELINE_ID
from variations.stats import (
    Interval,
    ModelAnalysis,
    Permanova,
    VariantShift,
    adjust_pvalues_bh,
    analyse_model,
    noise_floor,
    permanova,
    rank_variants,
    sensitivity_index,
    shift_test,
)

DIMENSIONS = 16


def cluster(
    rng: np.random.Generator, axis: int, count: int, noise: float = 0.05
) -> np.ndarray:
    """Unit vectors scattered around one coordinate axis."""
    vectors = noise * rng.standard_normal((count, DIMENSIONS))
    vectors[:, axis] += 1.0
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def separated(rng: np.random.Generator, samples: int) -> np.ndarray:
    """Baseline answers near one axis, variant answers near another."""
    return distance_matrix(
        np.vstack([cluster(rng, 0, samples), cluster(rng, 1, samples)])
    )


def same_distribution(rng: np.random.Generator, count: int) -> np.ndarray:
    return distance_matrix(cluster(rng, 0, count, noise=0.5))


def split(first: int, second: int) -> tuple[list[int], list[int]]:
    return list(range(first)), list(range(first, first + second))


# noise floor


def test_noise_floor_pools_same_label_pairs() -> None:
    distances = np.array(
        [
            [0.0, 0.2, 0.9, 0.9, 0.9],
            [0.2, 0.0, 0.9, 0.9, 0.9],
            [0.9, 0.9, 0.0, 0.4, 0.9],
            [0.9, 0.9, 0.4, 0.0, 0.9],
            [0.9, 0.9, 0.9, 0.9, 0.0],
        ]
    )

    assert noise_floor(distances, ["a", "a", "b", "b", "c"]) == pytest.approx(0.3)


def test_noise_floor_needs_a_repeated_label() -> None:
    assert noise_floor(np.zeros((3, 3)), ["a", "b", "c"]) is None


# identical answers


def test_identical_answers_have_zero_shift_and_no_significance() -> None:
    distances = np.zeros((10, 10))

    result = shift_test(distances, *split(5, 5))

    assert result.shift == 0.0
    assert result.noise_floor == 0.0
    assert result.ratio == 0.0
    assert result.p_value == 1.0


def test_identical_answers_give_an_empty_permanova() -> None:
    result = permanova(np.zeros((12, 12)), ["a", "b", "c"] * 4, permutations=99)

    assert result == Permanova(
        pseudo_f=0.0, r_squared=0.0, p_value=1.0, permutations=99
    )


def test_identical_answers_have_zero_sensitivity() -> None:
    assert sensitivity_index(np.zeros((6, 6))) == Interval(0.0, 0.0, 0.0)


def test_identical_answers_flag_no_variant() -> None:
    labels = [BASELINE_ID] * 3 + ["polite"] * 3 + ["hostile"] * 3

    analysis = analyse_model(np.zeros((9, 9)), labels, permutations=99, bootstraps=99)

    assert [row.variant for row in analysis.variants] == ["polite", "hostile"]
    assert not any(row.significant for row in analysis.variants)
    assert [row.p_value for row in analysis.variants] == [1.0, 1.0]
    assert analysis.noise_floor == 0.0


# one sample each


def test_one_sample_each_cannot_be_tested() -> None:
    distances = np.array([[0.0, 0.4], [0.4, 0.0]])

    result = shift_test(distances, [0], [1])

    assert result.shift == pytest.approx(0.4)
    assert result.p_value is None
    assert result.noise_floor is None
    assert result.ratio is None
    assert result.permutations == 0


def test_one_sample_each_takes_a_given_noise_floor() -> None:
    distances = np.array([[0.0, 0.4], [0.4, 0.0]])

    result = shift_test(distances, [0], [1], noise_floor=0.1)

    assert result.ratio == pytest.approx(4.0)
    assert result.p_value is None


def test_a_shift_over_zero_noise_has_an_infinite_ratio() -> None:
    distances = np.array(
        [
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 1.0, 1.0],
            [1.0, 1.0, 0.0, 0.0],
            [1.0, 1.0, 0.0, 0.0],
        ]
    )

    result = shift_test(distances, [0, 1], [2, 3])

    assert result.ratio == math.inf
    # 6 splits of 4 answers into 2 + 2: the observed one and its mirror image.
    assert result.exact
    assert result.p_value == pytest.approx(2 / 6)


# separated clusters


def test_separated_clusters_shift_significantly() -> None:
    distances = separated(np.random.default_rng(1), samples=5)

    result = shift_test(distances, *split(5, 5))

    assert result.exact
    assert result.permutations == math.comb(10, 5)
    # The observed split and its mirror are the two most extreme of 252; the
    # mirror sums the same distances in another order, so this checks ties.
    assert result.p_value == pytest.approx(2 / 252)
    assert result.ratio is not None and result.ratio > 10


def test_separated_clusters_shift_significantly_by_random_permutations() -> None:
    distances = separated(np.random.default_rng(2), samples=8)

    result = shift_test(distances, *split(8, 8), permutations=999)

    assert not result.exact
    assert result.permutations == 999
    assert result.p_value == pytest.approx(1 / 1000)


def test_separated_clusters_explain_most_variance() -> None:
    # 8 + 8 answers: with 5 + 5 only 126 distinct splits exist, p >= 1/126.
    distances = separated(np.random.default_rng(3), samples=8)

    result = permanova(distances, ["base"] * 8 + ["variant"] * 8)

    assert result.r_squared > 0.9
    assert result.pseudo_f is not None and result.pseudo_f > 50
    assert result.p_value is not None and result.p_value < 0.01


# calibration under the null


def null_p_values(test: str, seeds: int = 200) -> np.ndarray:
    """P-values over many data sets where the labels mean nothing."""
    p_values: list[float | None] = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        if test == "shift":
            distances = same_distribution(rng, 12)
            shift = shift_test(distances, *split(6, 6), permutations=99, seed=seed)
            p_values.append(shift.p_value)
        elif test == "exact shift":
            distances = same_distribution(rng, 8)
            p_values.append(shift_test(distances, *split(4, 4), seed=seed).p_value)
        else:
            labels = ["a", "b", "c"] * 4
            distances = same_distribution(rng, 12)
            result = permanova(distances, labels, permutations=99, seed=seed)
            p_values.append(result.p_value)
    return np.array(p_values, dtype=np.float64)


@pytest.mark.parametrize("test", ["shift", "permanova"])
def test_p_values_are_uniform_under_the_null(test: str) -> None:
    p_values = null_p_values(test)

    assert scipy_stats.kstest(p_values, "uniform").pvalue > 0.01
    assert 0.01 <= np.mean(p_values < 0.05) <= 0.12


def test_exact_p_values_hold_their_level_under_the_null() -> None:
    p_values = null_p_values("exact shift")

    # 70 splits of 4 + 4, in mirror pairs: the smallest p-value is 2/70.
    assert p_values.min() == pytest.approx(2 / 70)
    assert np.mean(p_values <= 0.05) <= 0.08


# PERMANOVA by hand


POINTS = np.array(
    [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [4.0, 3.0], [3.5, 5.0]]
)
GROUPS = ["x", "x", "y", "y", "y", "y"]


def euclidean(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)


def textbook_pseudo_f(distances: np.ndarray, groups: list[str]) -> tuple[float, float]:
    """Anderson (2001): sums of squared distances over pairs, divided by n."""
    n, names = len(groups), sorted(set(groups))
    total = sum(distances[i, j] ** 2 for i, j in combinations(range(n), 2)) / n
    within = 0.0
    for name in names:
        members = [i for i, group in enumerate(groups) if group == name]
        pairs = combinations(members, 2)
        within += sum(distances[i, j] ** 2 for i, j in pairs) / len(members)
    among = total - within
    f = (among / (len(names) - 1)) / (within / (n - len(names)))
    return f, among / total


def test_permanova_matches_the_textbook_formula() -> None:
    expected_f, expected_r_squared = textbook_pseudo_f(euclidean(POINTS), GROUPS)

    result = permanova(euclidean(POINTS), GROUPS, permutations=99)

    assert result.pseudo_f == pytest.approx(expected_f)
    assert result.r_squared == pytest.approx(expected_r_squared)


def test_permanova_on_euclidean_distances_is_anova_on_centroids() -> None:
    labels = np.array(GROUPS)
    total = ((POINTS - POINTS.mean(axis=0)) ** 2).sum()
    within = sum(
        ((POINTS[labels == g] - POINTS[labels == g].mean(axis=0)) ** 2).sum()
        for g in ("x", "y")
    )

    result = permanova(euclidean(POINTS), GROUPS, permutations=99)

    assert result.pseudo_f == pytest.approx(((total - within) / 1) / (within / 4))
    assert result.r_squared == pytest.approx(1 - within / total)


def test_permanova_p_value_approaches_the_exact_one() -> None:
    distances = euclidean(POINTS)
    observed, _ = textbook_pseudo_f(distances, GROUPS)
    labellings = [
        ["x" if i in pair else "y" for i in range(6)]
        for pair in combinations(range(6), 2)
    ]
    extreme = [
        textbook_pseudo_f(distances, groups)[0] >= observed - 1e-9
        for groups in labellings
    ]

    result = permanova(distances, GROUPS, permutations=20_000, seed=5)

    assert result.p_value == pytest.approx(np.mean(extreme), abs=0.01)


@pytest.mark.parametrize(
    ("labels", "r_squared"),
    [(["a"] * 4, 0.0), (["a", "b", "c", "d"], 1.0)],
    ids=["one group", "one answer per group"],
)
def test_permanova_is_undefined_without_groups_or_replicates(
    labels: list[str], r_squared: float
) -> None:
    distances = euclidean(POINTS[:4])

    result = permanova(distances, labels)

    assert result == Permanova(
        pseudo_f=None, r_squared=r_squared, p_value=None, permutations=0
    )


# sensitivity index


def test_sensitivity_is_the_mean_pairwise_distance() -> None:
    distances = same_distribution(np.random.default_rng(4), 20)
    upper = distances[np.triu_indices(20, k=1)]

    result = sensitivity_index(distances)

    assert result is not None
    assert result.value == pytest.approx(upper.mean())
    assert result.low is not None and result.high is not None
    assert result.low <= result.value <= result.high


@pytest.mark.parametrize("by_label", [False, True], ids=["answers", "labels"])
def test_sensitivity_interval_narrows_with_more_answers(by_label: bool) -> None:
    widths = []
    for count in (20, 400):
        distances = same_distribution(np.random.default_rng(count), count)
        labels = [index // 4 for index in range(count)] if by_label else None
        result = sensitivity_index(distances, labels=labels)
        assert result is not None and result.low is not None and result.high is not None
        assert result.low <= result.value <= result.high
        widths.append(result.high - result.low)

    assert widths[1] < widths[0] / 2


def test_sensitivity_bootstrap_is_reproducible() -> None:
    distances = same_distribution(np.random.default_rng(6), 15)

    first = sensitivity_index(distances, seed=3)
    again = sensitivity_index(distances, seed=3)
    other = sensitivity_index(distances, seed=4)

    assert first == again
    assert first != other


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, None), (1, None), (2, Interval(0.5, None, None))],
    ids=["no answers", "one answer", "two answers"],
)
def test_sensitivity_needs_answers(count: int, expected: Interval | None) -> None:
    distances = np.full((count, count), 0.5)
    np.fill_diagonal(distances, 0.0)

    assert sensitivity_index(distances) == expected


def test_sensitivity_by_two_labels_has_no_interval() -> None:
    distances = same_distribution(np.random.default_rng(7), 10)

    result = sensitivity_index(distances, labels=["a"] * 5 + ["b"] * 5)

    assert result is not None
    assert (result.low, result.high) == (None, None)


# Benjamini-Hochberg


def test_bh_adjustment_matches_hand_computation() -> None:
    # Sorted: 0.005, 0.01, 0.03, 0.04 -> x4/1, x4/2, x4/3, x4/4 = 0.02, 0.02,
    # 0.04, 0.04, then the running minimum from the largest down.
    p_values = [0.01, 0.04, 0.03, 0.005, None]

    adjusted = adjust_pvalues_bh(p_values)

    assert adjusted == [
        pytest.approx(0.02),
        pytest.approx(0.04),
        pytest.approx(0.04),
        pytest.approx(0.02),
        None,
    ]


def test_bh_adjustment_is_capped_at_one_and_keeps_order() -> None:
    assert adjust_pvalues_bh([0.9, 0.8, 1.0]) == [pytest.approx(1.0)] * 3
    assert adjust_pvalues_bh([]) == []
    assert adjust_pvalues_bh([None]) == [None]


def test_bh_adjustment_refuses_impossible_p_values() -> None:
    with pytest.raises(ConfigurationError, match=r"1\.5"):
        adjust_pvalues_bh([0.1, 1.5])


# one model's analysis


def shifted_sweep(
    rng: np.random.Generator, samples: int = 6
) -> tuple[np.ndarray, list[str]]:
    """Baseline, two variants that keep its answers, two that move them."""
    axes = {BASELINE_ID: 0, "polite": 0, "terse": 0, "hostile": 1, "child": 2}
    vectors = np.vstack([cluster(rng, axis, samples) for axis in axes.values()])
    labels = [name for name in axes for _ in range(samples)]
    return distance_matrix(vectors), labels


def test_analysis_flags_the_variants_that_move_answers() -> None:
    distances, labels = shifted_sweep(np.random.default_rng(8))

    analysis = analyse_model(distances, labels, permutations=999, bootstraps=200)

    rows = {row.variant: row for row in analysis.variants}
    assert list(rows) == ["polite", "terse", "hostile", "child"]
    assert {name for name, row in rows.items() if row.significant} == {
        "hostile",
        "child",
    }
    assert rows["hostile"].ratio is not None and rows["hostile"].ratio > 5
    assert rows["polite"].ratio == pytest.approx(1, abs=0.5)
    assert all(row.samples == 6 for row in rows.values())
    assert analysis.noise_floor == pytest.approx(noise_floor(distances, labels))
    assert analysis.permanova.r_squared > 0.5
    assert analysis.sensitivity is not None


def test_analysis_adjusts_p_values_only_when_asked() -> None:
    distances, labels = shifted_sweep(np.random.default_rng(9))

    adjusted = analyse_model(distances, labels, permutations=99, bootstraps=10)
    raw = analyse_model(distances, labels, permutations=99, bootstraps=10, adjust=False)

    assert all(row.adjusted_p_value is None for row in raw.variants)
    assert [row.adjusted_p_value for row in adjusted.variants] == adjust_pvalues_bh(
        [row.p_value for row in adjusted.variants]
    )


def test_analysis_without_baseline_answers_has_no_rows() -> None:
    distances, labels = shifted_sweep(np.random.default_rng(10))

    analysis = analyse_model(distances, labels, baseline="missing", bootstraps=10)

    assert analysis.variants == ()
    assert analysis.permanova.p_value is not None


def test_analysis_is_reproducible() -> None:
    distances, labels = shifted_sweep(np.random.default_rng(11), samples=8)

    first = analyse_model(distances, labels, seed=1, bootstraps=50)
    again = analyse_model(distances, labels, seed=1, bootstraps=50)

    assert first == again


# ranking over prompts and models


def row(
    variant: str, significant: bool, ratio: float | None, p: float | None = 0.5
) -> VariantShift:
    return VariantShift(
        variant=variant,
        samples=3,
        shift=0.1,
        ratio=ratio,
        p_value=p,
        adjusted_p_value=p,
        significant=significant,
    )


def cell(*rows: VariantShift) -> ModelAnalysis:
    return ModelAnalysis(
        noise_floor=0.1,
        variants=rows,
        permanova=Permanova(None, 0.0, None, 0),
        sensitivity=None,
    )


def test_variants_rank_by_share_of_cells_moved_beyond_noise() -> None:
    analyses = [
        cell(
            row("polite", False, 1.0),
            row("hostile", True, 4.0),
            row("child", True, 2.0),
        ),
        cell(
            row("polite", False, 1.2),
            row("hostile", True, 6.0),
            row("child", False, 1.0),
        ),
        cell(
            row("polite", True, 3.0),
            row("hostile", False, None, p=None),
            row("child", True, 3.0),
        ),
    ]

    ranks = rank_variants(analyses)

    assert [(r.variant, r.cells, r.significant_cells) for r in ranks] == [
        ("hostile", 2, 2),
        ("child", 3, 2),
        ("polite", 3, 1),
    ]
    assert ranks[0].fraction == 1.0
    assert ranks[0].mean_ratio == pytest.approx(5.0)
    assert ranks[1].fraction == pytest.approx(2 / 3)
    assert ranks[2].mean_ratio == pytest.approx((1.0 + 1.2 + 3.0) / 3)


def test_equal_shares_rank_by_mean_ratio() -> None:
    analyses = [
        cell(row("a", True, 2.0), row("b", True, math.inf), row("c", True, None))
    ]

    assert [r.variant for r in rank_variants(analyses)] == ["b", "a", "c"]


# bad input


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: shift_test(np.zeros((4, 4)), [0], [1], permutations=0),
            "permutations",
        ),
        (
            lambda: shift_test(np.zeros((4, 4)), [0, 1], [1, 2]),
            "both baseline and variant",
        ),
        (lambda: shift_test(np.zeros((4, 4)), [0], []), "at least one"),
        (lambda: shift_test(np.zeros((4, 4)), [0], [7]), r"\[0, 4\)"),
        (lambda: permanova(np.zeros((4, 3)), ["a"] * 4), r"square.*\(4, 3\)"),
        (lambda: permanova(np.zeros((4, 4)), ["a"] * 3), "3 labels for a 4x4"),
        (lambda: sensitivity_index(np.zeros((4, 4)), confidence=1.0), "confidence"),
        (lambda: sensitivity_index(np.zeros((4, 4)), bootstraps=0), "bootstraps"),
        (lambda: analyse_model(np.zeros((4, 4)), ["a"] * 4, permutations=-1), "-1"),
    ],
    ids=[
        "no permutations",
        "overlapping groups",
        "empty group",
        "index out of range",
        "not square",
        "label count",
        "confidence",
        "no bootstraps",
        "negative permutations",
    ],
)
def test_bad_input_is_refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        call()
