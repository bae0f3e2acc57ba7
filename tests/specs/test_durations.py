"""Durations: the PromQL grammar, seconds in Python, and a faithful way back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auspice.specs import DurationError, format_duration, parse_duration

GOOD = [
    ("1ms", 0.001), ("500ms", 0.5), ("30s", 30), ("1m", 60), ("5m", 300), ("1h", 3600),
    ("1h30m", 5400), ("1d", 86400), ("1w", 604800), ("2h0m5s", 7205), ("1m500ms", 60.5),
    ("90s", 90), ("0s1ms", 0.001),
]  # fmt: skip
BAD = ["", "1", "1.5m", "1m1h", "1m1m", "5x", " 1m", "1m ", "1M", "-1m", "0s", "0m0s",
       "1y", "m", "1h 30m", "1e3s", "1ms5ms"]  # fmt: skip


@pytest.mark.parametrize(("text", "seconds"), GOOD)
def test_valid_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize("text", BAD)
def test_invalid_durations_are_refused(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (60, "1m"),
        (90, "1m30s"),
        (0.5, "500ms"),
        (3600, "1h"),
        (86400 * 8, "8d"),
        (61.001, "1m1s1ms"),
    ],
)
def test_format_gives_the_shortest_promql_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_refuses_zero() -> None:
    with pytest.raises(DurationError):
        format_duration(0.0004)


@given(st.integers(min_value=1, max_value=10**12))
def test_format_then_parse_is_the_identity_on_milliseconds(ms: int) -> None:
    assert parse_duration(format_duration(ms / 1000)) == ms / 1000


@given(
    st.lists(st.integers(min_value=0, max_value=999), min_size=6, max_size=6).filter(any),
)
def test_composite_durations_sum_their_parts(counts: list[int]) -> None:
    units = ["w", "d", "h", "m", "s", "ms"]
    factors = [604800, 86400, 3600, 60, 1, 0.001]
    text = "".join(f"{n}{u}" for n, u in zip(counts, units, strict=True) if n)
    expected = sum(n * f for n, f in zip(counts, factors, strict=True))
    assert parse_duration(text) == pytest.approx(expected, rel=1e-12)


@given(st.text(max_size=8))
def test_parse_either_returns_a_positive_number_or_raises(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except DurationError:
        return
    assert seconds > 0
    assert parse_duration(format_duration(seconds)) == seconds
