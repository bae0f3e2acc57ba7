"""Summary statistics Kayenta attaches to every metric, and its percentile rule.

Kayenta reports min, max, mean, sample standard deviation and count for each side of a
metric (all zero for an empty side), and estimates percentiles with the R-7 rule (linear
interpolation between order statistics, numpy's default ``linear`` method).  The IQR
outlier fences of :mod:`.detectors` use the same percentiles.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike


class Summary(NamedTuple):
    """Descriptive statistics of one side of a metric."""

    min: float
    max: float
    mean: float
    std: float
    count: int


def summary(values: ArrayLike) -> Summary:
    """min, max, mean, sample standard deviation (n - 1) and count; zeros when empty."""
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        return Summary(0.0, 0.0, 0.0, 0.0, 0)
    with np.errstate(all="ignore"):  # huge values: mean/std overflow to inf, not an error
        std = float(np.std(array, ddof=1)) if array.size > 1 else 0.0
        mean = float(np.mean(array))
    return Summary(float(np.min(array)), float(np.max(array)), mean, std, int(array.size))


def percentile(values: ArrayLike, p: float) -> float:
    """The p-th percentile (0 < p <= 100) by the R-7 rule; NaN for no values."""
    if not (isinstance(p, int | float) and 0.0 < p <= 100.0):
        raise ValueError(f"percentile p must be in (0, 100], got {p!r}")
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        return math.nan
    with np.errstate(all="ignore"):
        return float(np.percentile(array, p, method="linear"))
