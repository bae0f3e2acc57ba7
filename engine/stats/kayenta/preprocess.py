"""What Kayenta's judge does to each side of a metric before classifying it.

Two steps, in this order and per side: NaN handling (``remove`` drops NaN, the default;
``replace`` turns them into 0.0, which also makes an empty side count as a Pass later),
then outliers (``keep``, the default, or ``remove`` with the judge's IQR detector: fences
widened to the 1st/99th percentiles, factor 3 unless configured).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .detectors import iqr_outliers

DEFAULT_OUTLIER_FACTOR = 3.0


class NanStrategy(StrEnum):
    REMOVE = "remove"
    REPLACE = "replace"


class OutlierStrategy(StrEnum):
    KEEP = "keep"
    REMOVE = "remove"


def handle_nans(values: ArrayLike, strategy: NanStrategy | str) -> NDArray[np.float64]:
    """Drop NaN (``remove``) or replace it with 0.0 (``replace``)."""
    array = np.asarray(values, dtype=np.float64).ravel()
    nan = np.isnan(array)
    if NanStrategy(strategy) is NanStrategy.REMOVE:
        return array[~nan]
    return np.where(nan, 0.0, array)


def remove_outliers(
    values: ArrayLike, *, factor: float = DEFAULT_OUTLIER_FACTOR
) -> NDArray[np.float64]:
    """Drop the values outside the judge's IQR fences (reduced sensitivity)."""
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[~iqr_outliers(array, factor=factor, reduce_sensitivity=True)]


def preprocess(
    values: ArrayLike,
    *,
    nan_strategy: NanStrategy | str = NanStrategy.REMOVE,
    outlier_strategy: OutlierStrategy | str = OutlierStrategy.KEEP,
    outlier_factor: float = DEFAULT_OUTLIER_FACTOR,
) -> NDArray[np.float64]:
    """NaN handling, then outlier removal when asked for."""
    array = handle_nans(values, nan_strategy)
    if OutlierStrategy(outlier_strategy) is OutlierStrategy.REMOVE:
        array = remove_outliers(array, factor=outlier_factor)
    return array
