"""What a judge returns from one look.

Every test (counts, histogram, gauge) answers a look with the same fields, so the
verdict logic and the JSON evidence do not care which test produced them. A test fed
one metric (scalars) returns plain Python numbers; a test fed arrays for many metrics
at once returns arrays of the same shape, and ``result[i]`` picks one metric out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

OK = "ok"
NO_DATA = "no_data"


@dataclass(frozen=True)
class TestResult:
    """The state of one metric's test after a look.

    ``e_value`` is the current value of the e-process, ``p_value`` the running
    anytime-valid p-value (min over looks of 1/E), ``rejected`` stays true once the
    e-process has crossed 1/alpha. ``estimate``, ``lower`` and ``upper`` are the effect
    and its confidence-sequence interval, in the unit named by ``effect``.
    ``status`` is ``"ok"`` or ``"no_data"`` for this look, ``reason`` says why there
    was no data, ``no_data_streak`` counts consecutive looks without data and
    ``data_looks`` all looks with data.
    ``counts`` holds the numbers behind the evidence (cumulative counts, batches...).
    """

    __test__ = False  # not a pytest test class, despite the name

    e_value: Any
    p_value: Any
    rejected: Any
    estimate: Any
    lower: Any
    upper: Any
    status: Any
    reason: Any
    no_data_streak: Any
    data_looks: Any
    looks: int
    effect: str
    counts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def without_data(cls, *, reason: str, looks: int, effect: str) -> TestResult:
        """A metric that could not be judged at all so far: every look was no data."""
        nan = float("nan")
        return cls(e_value=1.0, p_value=1.0, rejected=False, estimate=nan, lower=nan,
                   upper=nan, status=NO_DATA, reason=reason, no_data_streak=looks,
                   data_looks=0, looks=looks, effect=effect)

    def __getitem__(self, index: int) -> TestResult:
        """One metric's result out of a vectorized result."""
        picked = {
            f.name: _pick(getattr(self, f.name), index)
            for f in fields(self)
            if f.name not in ("counts", "looks", "effect")
        }
        counts = {key: _pick(value, index) for key, value in self.counts.items()}
        return TestResult(looks=self.looks, effect=self.effect, counts=counts, **picked)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready evidence (numbers as floats, NaN and infinities as strings)."""
        out = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "counts"}
        out["counts"] = {key: _plain(value) for key, value in self.counts.items()}
        return out


def _pick(value: Any, index: int) -> Any:
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        return _scalar(value[index])
    return value


def _scalar(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.str_):
        return str(value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    value = _scalar(value)
    if isinstance(value, float) and not np.isfinite(value):
        return "NaN" if np.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return value


def unwrap(result: TestResult, scalar: bool) -> TestResult:
    """Turn the one-element arrays of a scalar-fed test into plain numbers."""
    return result[0] if scalar else result
