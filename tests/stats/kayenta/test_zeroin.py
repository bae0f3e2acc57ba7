"""R's zeroin: converges like Brent's method, and keeps R's endpoint and failure rules."""

from __future__ import annotations

import math

import pytest

from auspice.stats.kayenta import zeroin


def test_finds_a_smooth_root_within_tolerance() -> None:
    root = zeroin(lambda x: x * x - 2, 0.0, 2.0, tol=1e-10)
    assert root == pytest.approx(math.sqrt(2), abs=1e-10)


def test_default_tolerance_is_loose() -> None:
    root = zeroin(lambda x: x - 0.123456789, 0.0, 1.0)
    assert abs(root - 0.123456789) <= 1e-4


def test_an_endpoint_that_is_a_root_is_returned_without_iterating() -> None:
    calls: list[float] = []

    def f(x: float) -> float:
        calls.append(x)
        return x - 1.0

    assert zeroin(f, 1.0, 5.0) == 1.0
    assert zeroin(f, -3.0, 1.0) == 1.0
    assert calls == [1.0, 5.0, -3.0, 1.0]


def test_given_end_values_are_used_instead_of_evaluating() -> None:
    calls: list[float] = []

    def f(x: float) -> float:
        calls.append(x)
        return x - 0.5

    zeroin(f, 0.0, 1.0, f_lower=-0.5, f_upper=0.5)
    assert 0.0 not in calls and 1.0 not in calls


def test_step_function_root_is_the_jump() -> None:
    root = zeroin(lambda x: -1.0 if x < 0.3 else 1.0, 0.0, 1.0)
    assert root == pytest.approx(0.3, abs=1e-4)


def test_maxiter_bounds_the_work_and_returns_last_approximation() -> None:
    calls = 0

    def f(x: float) -> float:
        nonlocal calls
        calls += 1
        return x - 0.7

    root = zeroin(f, 0.0, 1.0, tol=0.0, maxiter=3)
    assert calls <= 2 + 4
    assert 0.0 <= root <= 1.0


def test_no_sign_change_still_returns_a_point_in_range() -> None:
    root = zeroin(lambda x: x * x + 1, -1.0, 2.0)
    assert -1.0 <= root <= 2.0
