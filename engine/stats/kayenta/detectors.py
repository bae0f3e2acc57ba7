"""Outlier detectors: Tukey's IQR fences (Kayenta's judge uses these) and k-sigma.

The judge's variant (``reduce_sensitivity=True``) widens the IQR fences to at least the
1st and 99th percentiles, so that a metric with a tiny IQR (most points equal) does not
lose every point that differs.  Each detector returns a boolean mask, True for outliers,
in input order.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .descriptive import percentile


def iqr_fences(
    values: ArrayLike, *, factor: float = 1.5, reduce_sensitivity: bool = False
) -> tuple[float, float]:
    """(lower, upper) fences: Q1 - factor IQR and Q3 + factor IQR, R-7 quartiles.

    With ``reduce_sensitivity`` the fences are min(P1, lower) and max(P99, upper).
    NaN fences for no values (nothing is then flagged).
    """
    if not factor > 0.0:
        raise ValueError(f"IQR factor must be greater than zero, got {factor!r}")
    q1, q3 = percentile(values, 25), percentile(values, 75)
    with np.errstate(all="ignore"):
        iqr = q3 - q1
        lower, upper = q1 - factor * iqr, q3 + factor * iqr
    if reduce_sensitivity:
        lower = min(percentile(values, 1), lower)
        upper = max(percentile(values, 99), upper)
    return lower, upper


def iqr_outliers(
    values: ArrayLike, *, factor: float = 1.5, reduce_sensitivity: bool = False
) -> NDArray[np.bool_]:
    """Mask of the values outside the IQR fences (see :func:`iqr_fences`)."""
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        return np.zeros(0, dtype=bool)
    lower, upper = iqr_fences(array, factor=factor, reduce_sensitivity=reduce_sensitivity)
    return (array > upper) | (array < lower)


def ksigma_outliers(values: ArrayLike, *, k: float = 3.0) -> NDArray[np.bool_]:
    """Mask of the values more than k population standard deviations from the mean."""
    if not k > 0.0:
        raise ValueError(f"k must be greater than zero, got {k!r}")
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        return np.zeros(0, dtype=bool)
    with np.errstate(all="ignore"):
        mean = np.mean(array)
        std = np.sqrt(np.mean((array - mean) ** 2))
        return np.abs(array - mean) > std * k
