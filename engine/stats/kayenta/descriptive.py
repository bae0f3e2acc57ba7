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


def mean(values: ArrayLike) -> float:
    """Arithmetic mean as Apache Commons Math computes it (Kayenta's ``StatUtils.mean``).

    A sequential sum divided by n, then corrected by the mean of the residuals.  The
    result can differ from ``numpy.mean`` in the last bits, and a mean ratio compared
    with a threshold of exactly 1.0 is where such bits decide.  NaN for no values.
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        return math.nan
    with np.errstate(all="ignore"):
        first = np.cumsum(array)[-1] / array.size
        return float(first + np.cumsum(array - first)[-1] / array.size)


def variance(values: ArrayLike) -> float:
    """Bias-corrected sample variance, Commons Math's corrected two-pass algorithm."""
    array = np.asarray(values, dtype=np.float64).ravel()
    n = array.size
    if n == 0:
        return math.nan
    if n == 1:
        return 0.0
    with np.errstate(all="ignore"):
        dev = array - mean(array)
        accum = np.cumsum(dev * dev)[-1]
        accum2 = np.cumsum(dev)[-1]
        return float((accum - accum2 * accum2 / n) / (n - 1))


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
        std = math.sqrt(variance(array)) if array.size > 1 else 0.0
    return Summary(float(np.min(array)), float(np.max(array)), mean(array), std, array.size)


def percentile(values: ArrayLike, p: float) -> float:
    """The p-th percentile (0 < p <= 100) by the R-7 rule; NaN for no values."""
    if not (isinstance(p, int | float) and 0.0 < p <= 100.0):
        raise ValueError(f"percentile p must be in (0, 100], got {p!r}")
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        return math.nan
    with np.errstate(all="ignore"):
        return float(np.percentile(array, p, method="linear"))
