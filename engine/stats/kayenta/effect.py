"""Effect sizes Kayenta uses to decide whether a significant shift is big enough.

A shift that the rank test finds is only called High or Low when the effect size also
passes the configured threshold: ``meanRatio`` (mean(experiment) / mean(control), NaN
when either mean is 0; the default) or ``cles``, the common-language effect size (the
probability that an experiment value exceeds a control value, ties counting half).  A
NaN effect size does not block a High/Low.  Cohen's d is here for completeness; Kayenta
reports it but does not classify with it.

All functions take (experiment, control), in that order.
"""

from __future__ import annotations

import math
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from .descriptive import Summary, mean, summary


class EffectMeasure(StrEnum):
    MEAN_RATIO = "meanRatio"
    CLES = "cles"


def _as_array(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).ravel()


def mean_ratio(experiment: ArrayLike | Summary, control: ArrayLike | Summary) -> float:
    """mean(experiment) / mean(control); NaN if either mean is 0 (or a side is empty)."""
    e_mean = experiment.mean if isinstance(experiment, Summary) else mean(experiment)
    c_mean = control.mean if isinstance(control, Summary) else mean(control)
    if c_mean == 0.0 or e_mean == 0.0 or math.isnan(c_mean) or math.isnan(e_mean):
        return math.nan
    with np.errstate(all="ignore"):
        return float(np.float64(e_mean) / np.float64(c_mean))


def cles(experiment: ArrayLike, control: ArrayLike) -> float:
    """Common-language effect size: P(experiment > control) + P(equal) / 2.

    Computed from the rank sum R1 of the experiment in the pooled sample,
    (2 R1 - m(m+1)) / (2 n m) with m experiment and n control values; NaN if a side is
    empty.
    """
    e, c = _as_array(experiment), _as_array(control)
    m, n = e.size, c.size
    if m == 0 or n == 0:
        return math.nan
    ranks = rankdata(np.concatenate((e, c)), method="average", nan_policy="propagate")
    r1 = float(np.sum(ranks[:m]))
    return (2 * r1 - m * (m + 1)) / (2 * n * m)


def cohen_d(experiment: ArrayLike | Summary, control: ArrayLike | Summary) -> float:
    """|mean difference| / pooled sample standard deviation."""
    e = experiment if isinstance(experiment, Summary) else summary(experiment)
    c = control if isinstance(control, Summary) else summary(control)
    dof = c.count + e.count - 2
    with np.errstate(all="ignore"):
        pooled = (
            math.sqrt(((e.count - 1) * e.std**2 + (c.count - 1) * c.std**2) / dof)
            if dof > 0
            else math.nan
        )
        if pooled == 0 or math.isnan(pooled):
            return math.nan
        return abs(e.mean - c.mean) / pooled


def effect_size(measure: EffectMeasure | str, experiment: ArrayLike, control: ArrayLike) -> float:
    """The effect size the classifier compares with its thresholds."""
    if EffectMeasure(measure) is EffectMeasure.CLES:
        return cles(experiment, control)
    return mean_ratio(experiment, control)
