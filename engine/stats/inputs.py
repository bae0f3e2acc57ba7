"""Turning what a caller hands a judge into clean per-metric arrays.

Judges are vectorized: one call may carry one metric (scalars) or thousands (arrays).
This module checks shapes once, converts to float64, and explains bad numbers per
metric (negative increases after a counter reset, NaN, infinities, more events than
requests) as *no data* reasons rather than exceptions, so one broken series never
stops the judgement of the others and never counts as evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from auspice.errors import InputError


def look_arrays(size: int | None, values: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], bool]:
    """Float64 arrays of one common length for the named inputs, and whether all were scalars.

    ``size`` is the number of metrics the test was first fed (None before the first
    look); a later look with another size is a caller error, reported by name.
    """
    arrays: dict[str, np.ndarray] = {}
    for name, value in values.items():
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name}={value!r} is not a number or an array of numbers") from exc
        if array.ndim > 1:
            raise InputError(f"{name} has shape {array.shape}; give a scalar or a 1-D array")
        arrays[name] = array
    scalar = all(a.ndim == 0 for a in arrays.values())
    lengths = {a.shape[0] for a in arrays.values() if a.ndim == 1}
    if len(lengths) > 1:
        shapes = ", ".join(f"{n}: {a.shape}" for n, a in arrays.items())
        raise InputError(f"inputs of one look must have the same length ({shapes})")
    length = lengths.pop() if lengths else 1
    if size is not None and length != size:
        raise InputError(f"this test judges {size} metrics per look, but the look has {length}")
    return {name: np.broadcast_to(a, (length,)).copy() for name, a in arrays.items()}, scalar


def problems(checks: list[tuple[np.ndarray, str]], length: int) -> np.ndarray:
    """Per metric, the first failed check's message ("" where every check passed)."""
    reasons = np.full(length, "", dtype=object)
    unexplained = np.ones(length, dtype=bool)
    for failed, message in checks:
        hit = unexplained & failed
        if hit.any():
            reasons[hit] = message
            unexplained &= ~hit
    return reasons


def bad_numbers(arrays: Mapping[str, np.ndarray], length: int) -> list[tuple[np.ndarray, str]]:
    """Checks shared by every judge: finite and, for counts, not negative."""
    checks = []
    for name, a in arrays.items():
        checks.append((np.isnan(a), f"{name} is NaN"))
        checks.append((np.isinf(a), f"{name} is infinite"))
    return checks


def negative_counts(arrays: Mapping[str, np.ndarray]) -> list[tuple[np.ndarray, str]]:
    return [
        (a < 0, f"{name} decreased during the look (counter reset?); look skipped")
        for name, a in arrays.items()
    ]
