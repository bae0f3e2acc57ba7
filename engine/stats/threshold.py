"""Flagger-style fixed bounds on the canary's own value.

Not an e-process: a fixed bound knows nothing about noise, so it is offered for the
checks where a hard limit is the point (an SLO, a saturation ceiling), and its result
carries no e-value. A look whose value lies outside ``[minimum, maximum]`` is a failed
check; more than ``failure_limit`` failed checks in total reject, as Flagger counts them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auspice.errors import InputError
from auspice.stats.inputs import bad_numbers, look_arrays, problems
from auspice.stats.results import NO_DATA, OK, TestResult, unwrap


class ThresholdCheck:
    """Counts looks whose canary value falls outside fixed bounds."""

    def __init__(self, *, minimum: float | None = None, maximum: float | None = None,
                 failure_limit: int = 0) -> None:
        if minimum is None and maximum is None:
            raise InputError("a threshold check needs a minimum, a maximum or both")
        self.minimum = -np.inf if minimum is None else float(minimum)
        self.maximum = np.inf if maximum is None else float(maximum)
        self.failure_limit = failure_limit
        self._size: int | None = None
        self.looks = 0

    def update(self, *, canary: Any) -> TestResult:
        arrays, scalar = look_arrays(self._size, {"canary": canary})
        value = arrays["canary"]
        if self._size is None:
            self._size = len(value)
            self._failed = np.zeros(self._size, dtype=np.int64)
            self._streak = np.zeros(self._size, dtype=np.int64)
            self._data_looks = np.zeros(self._size, dtype=np.int64)
            self._last = np.full(self._size, np.nan)
        self.looks += 1
        reasons = problems(bad_numbers(arrays, len(value)), len(value))
        ok = reasons == ""
        self._streak = np.where(ok, 0, self._streak + 1)
        self._data_looks += ok
        self._failed += ok & ((value < self.minimum) | (value > self.maximum))
        self._last = np.where(ok, value, self._last)
        nan = np.full(len(value), np.nan)
        return unwrap(TestResult(
            e_value=nan, p_value=nan, rejected=self._failed > self.failure_limit,
            estimate=self._last.copy(), lower=nan, upper=nan,
            status=np.where(ok, OK, NO_DATA).astype(object), reason=reasons,
            no_data_streak=self._streak.copy(), data_looks=self._data_looks.copy(),
            looks=self.looks, effect=f"canary value (bounds {self.minimum:g}..{self.maximum:g})",
            counts={"failed_checks": self._failed.copy()}), scalar)
