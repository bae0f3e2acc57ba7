"""The fast rank-shift statistic against a plain re-ranking, and the interval's contract."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import rankdata

from auspice.stats.kayenta import KayentaInputError, mann_whitney, wilcoxon_diff
from auspice.stats.kayenta.mannwhitney import RankShiftStatistic


def reranked_wilcoxon_diff(mu: float, zq: float, x: np.ndarray, y: np.ndarray) -> float:
    """Kayenta's definition, literally: rank the pooled (x - mu, y) with average ranks."""
    nx, ny = float(x.size), float(y.size)
    ranks = rankdata(np.concatenate((x - mu, y)), method="average")
    dz = ranks[: x.size].sum() - nx * (nx + 1) / 2 - nx * ny / 2
    _, ties = np.unique(ranks, return_counts=True)
    tie_sum = float(np.sum(ties.astype(float) ** 3 - ties))
    sigma = math.sqrt((nx * ny / 12) * ((nx + ny + 1) - tie_sum / ((nx + ny) * (nx + ny - 1))))
    return (dz - 0.5 * np.sign(dz)) / sigma - zq


tied_values = st.lists(st.integers(-5, 5).map(lambda v: v / 2), min_size=1, max_size=40)


@given(x=tied_values, y=tied_values, mu=st.sampled_from([-1.5, -0.5, 0.0, 0.25, 0.5, 3.0]))
def test_fast_statistic_equals_full_reranking(x: list[float], y: list[float], mu: float) -> None:
    xa, ya = np.array(x), np.array(y)
    if np.unique(np.concatenate((xa - mu, ya))).size == 1:
        with pytest.raises(KayentaInputError, match="tied"):
            wilcoxon_diff(mu, 1.96, xa, ya)
        return
    assert wilcoxon_diff(mu, 1.96, xa, ya) == pytest.approx(
        reranked_wilcoxon_diff(mu, 1.96, xa, ya), rel=1e-12, abs=1e-12
    )


def test_shift_that_merges_distinct_values_counts_them_as_ties() -> None:
    # 1 + 1e-17 - 1 and 1 - 1 are the same double: Kayenta ranks them as one tie group
    x = np.array([1e-17, 2e-17, 5.0])
    y = np.array([-1.0, 0.0])
    stat = RankShiftStatistic(x, y)
    assert stat(1.0, 0.0) == pytest.approx(reranked_wilcoxon_diff(1.0, 0.0, x, y), abs=1e-12)


def test_small_example_from_statistics_brief() -> None:
    lower, upper, estimate = mann_whitney([10, 20, 30, 40], [1, 2, 3, 4], 0.95)
    assert (lower, upper, estimate) == pytest.approx((6.0, 39.0, 22.5), abs=1e-6)


def test_interval_is_antisymmetric_in_the_samples() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(10, 1, 50), rng.normal(11, 1, 40)
    lo, hi, est = mann_whitney(x, y, 0.9)
    lo2, hi2, est2 = mann_whitney(y, x, 0.9)
    assert lo < est < hi
    assert (lo2, hi2, est2) == pytest.approx((-hi, -lo, -est), abs=2e-4)


def test_wider_confidence_gives_wider_interval() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 1, 80), rng.normal(0.5, 1, 80)
    lo90, hi90, _ = mann_whitney(x, y, 0.90)
    lo99, hi99, _ = mann_whitney(x, y, 0.99)
    assert lo99 < lo90 < hi90 < hi99


def test_pure_shift_is_recovered() -> None:
    rng = np.random.default_rng(11)
    y = rng.normal(0, 1, 300)
    x = rng.normal(0, 1, 300) + 2.0
    lo, hi, est = mann_whitney(x, y, 0.95)
    assert lo < 2.0 < hi
    assert est == pytest.approx(2.0, abs=0.25)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([], [1.0], "no values"),
        ([1.0], [], "no values"),
        ([1.0, math.nan], [1.0], "NaN"),
        ([1.0, math.inf], [1.0], "infinite"),
        ([2.0, 2.0], [2.0], "tied"),
        ([1.7e308], [-1.7e308], "overflows"),
        ([[1.0, 2.0]], [1.0], "one-dimensional"),
        (["a"], [1.0], "not numbers"),
    ],
)
def test_unusable_samples_raise_a_clear_error(x: list, y: list, message: str) -> None:
    with pytest.raises(KayentaInputError, match=message):
        mann_whitney(x, y, 0.95)


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 1.5, math.nan])
def test_confidence_outside_unit_interval_is_rejected(confidence: float) -> None:
    with pytest.raises(KayentaInputError, match="confidence"):
        mann_whitney([1.0, 2.0], [3.0, 4.0], confidence)
