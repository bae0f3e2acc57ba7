"""No input crashes the judge: every sample gives a defined verdict, never an exception.

Hypothesis feeds empty sides, NaN, infinities, constants, huge and tiny magnitudes and
single points.  ``classify`` must always return one of Kayenta's labels (with a reason
for Error/Nodata); ``mann_whitney`` either returns an ordered-in-range finite triple or
raises the documented :class:`KayentaInputError`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from auspice.stats.kayenta import KayentaInputError, Label, classify, mann_whitney

values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e6, 1e6),
    st.sampled_from([0.0, -0.0, 1.0, 1e308, -1e308, 5e-324, math.nan, math.inf, -math.inf]),
)
samples = st.one_of(
    st.lists(values, max_size=30),
    st.builds(lambda v, n: [v] * n, values, st.integers(1, 10)),  # constants
)
configs = st.fixed_dictionaries(
    {},
    optional={
        "nan_strategy": st.sampled_from(["remove", "replace"]),
        "direction": st.sampled_from(["increase", "decrease", "either"]),
        "critical": st.booleans(),
        "must_have_data": st.booleans(),
        "confidence": st.sampled_from([0.5, 0.95, 0.98, 0.999]),
        "tolerance": st.sampled_from([0.0, 0.1, 0.25, 2.0]),
        "outliers": st.sampled_from([{"strategy": "remove"}, {"strategy": "keep"}]),
        "effect_size": st.sampled_from([{"measure": "cles"}, {"measure": "meanRatio"}]),
    },
)


@given(experiment=samples, control=samples, config=configs)
def test_classify_always_gives_a_defined_verdict(
    experiment: list[float], control: list[float], config: dict
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warnings would hint at unguarded arithmetic
        result = classify(experiment, control, **config)
    assert result.classification in set(Label)
    if result.classification in (Label.ERROR, Label.NODATA, Label.NODATA_FAIL_METRIC):
        assert result.reason
    if result.classification is Label.ERROR:
        assert result.critical is False
    if result.interval is not None:
        assert all(math.isfinite(v) for v in result.interval)


@given(
    clean=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=20),
    other=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=20),
    bad=st.sampled_from([math.inf, -math.inf]),
)
def test_infinite_values_never_pass_silently(
    clean: list[float], other: list[float], bad: float
) -> None:
    result = classify([*clean, bad], other)
    assert result.classification is Label.ERROR
    assert "infinite" in (result.reason or "")


@given(side=st.lists(st.just(math.nan), min_size=1, max_size=5), other=samples)
def test_all_nan_side_is_nodata_when_removed(side: list[float], other: list[float]) -> None:
    result = classify(side, other, nan_strategy="remove", critical=True)
    assert result.classification is Label.NODATA
    assert result.critical is True


@given(experiment=samples, control=samples, confidence=st.floats(0.01, 0.999))
def test_mann_whitney_returns_an_interval_or_a_clear_error(
    experiment: list[float], control: list[float], confidence: float
) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            lower, upper, estimate = mann_whitney(experiment, control, confidence)
    except KayentaInputError as error:
        assert str(error)
        return
    x, y = np.asarray(experiment), np.asarray(control)
    lo_end, hi_end = x.min() - y.max(), x.max() - y.min()
    for value in (lower, upper, estimate):
        assert math.isfinite(value)
        assert lo_end - 1e-4 <= value <= hi_end + 1e-4
