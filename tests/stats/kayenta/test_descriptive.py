"""Summary statistics follow Commons Math bit for bit; detectors and mean-inequality edges."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auspice.stats.kayenta import (
    Label,
    classify_mean_inequality,
    iqr_fences,
    iqr_outliers,
    ksigma_outliers,
    percentile,
    summary,
)
from auspice.stats.kayenta.descriptive import mean, variance

finite = st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=50)


def commons_mean(values: list[float]) -> float:
    """Commons Math Mean.evaluate: sequential sum / n, corrected by the residual mean."""
    total = 0.0
    for v in values:
        total += v
    first = total / len(values)
    correction = 0.0
    for v in values:
        correction += v - first
    return first + correction / len(values)


@given(finite)
def test_mean_matches_the_commons_math_algorithm_exactly(values: list[float]) -> None:
    assert mean(values) == commons_mean(values)


@given(finite)
def test_variance_is_the_sample_variance(values: list[float]) -> None:
    expected = statistics.variance(values) if len(values) > 1 else 0.0
    assert variance(values) == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_summary_of_nothing_is_zeros_and_percentile_is_nan() -> None:
    assert tuple(summary([])) == (0.0, 0.0, 0.0, 0.0, 0)
    assert math.isnan(percentile([], 50))


@pytest.mark.parametrize("p", [0, -1, 100.5, math.nan])
def test_percentile_rejects_p_outside_range(p: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0, 2.0], p)


def test_reduced_sensitivity_widens_fences_to_p1_p99() -> None:
    values = np.array([5.0] * 98 + [1.0, 9.0])
    assert iqr_fences(values) == (5.0, 5.0)
    lower, upper = iqr_fences(values, reduce_sensitivity=True)
    assert lower == pytest.approx(np.percentile(values, 1))
    assert upper == pytest.approx(np.percentile(values, 99))
    assert iqr_outliers(values).sum() == 2
    assert iqr_outliers(values, reduce_sensitivity=True).sum() == 2  # still beyond P1/P99


def test_detector_parameters_must_be_positive() -> None:
    with pytest.raises(ValueError, match="greater than zero"):
        iqr_outliers([1.0, 2.0], factor=0)
    with pytest.raises(ValueError, match="greater than zero"):
        ksigma_outliers([1.0, 2.0], k=0)


def test_mean_inequality_edges() -> None:
    assert classify_mean_inequality([], [1.0]).classification is Label.NODATA
    assert classify_mean_inequality([], [1.0], must_have_data=True).classification is (
        Label.NODATA_FAIL_METRIC
    )
    assert classify_mean_inequality([math.nan], [1.0], nan_strategy="replace").classification is (
        Label.LOW
    )
    assert classify_mean_inequality([2.0], [1.0], direction="decrease").classification is Label.PASS
    broken = classify_mean_inequality([math.inf, -math.inf], [1.0])
    assert broken.classification is Label.ERROR and broken.reason
