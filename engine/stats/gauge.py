"""Gauges (CPU, memory, saturation, custom values): is the canary's level worse?

Per look the caller gives one canary value and one baseline value (normalized by load
where that makes sense, e.g. CPU seconds per 1k requests). The test works on the
difference D_t = c_t - b_t (or the log ratio), but not look by look: consecutive
gauge readings are autocorrelated, and a test that treats them as independent raises
false alarms most of the time (docs/judges.md: 39% at AR(1) 0.5). Batch
means of ``batch`` consecutive looks are close to independent, and the test runs on
them with the scale-invariant t-mixture e-value

    ln E = -1/2 ln(1 + n tau^2) + (n/2) [ln(1 + t^2/nu) - ln(1 + t^2/(nu (1 + n tau^2)))]

(t the one-sample t statistic of the batch means against the margin, nu = n - 1,
tau the prior effect scale in standard deviations). The e-value is two-sided; a
one-sided question rejects only when the estimate lies on the bad side, which keeps
the level. The same formula, solved for t, gives the confidence sequence.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from auspice.errors import InputError
from auspice.stats.inputs import bad_numbers, look_arrays, problems
from auspice.stats.results import NO_DATA, OK, TestResult, unwrap

#: Larger gauge values are refused as data errors (sums and squares would overflow).
MAX_VALUE = 1e300

Direction = Literal["increase", "decrease", "either"]
Compare = Literal["difference", "log_ratio"]


def t_mixture_log_e(t: np.ndarray, n: np.ndarray, tau: float) -> np.ndarray:
    """ln E of the scale-invariant t-mixture for ``n`` >= 2 batch means."""
    nu = n - 1.0
    spread = 1.0 + n * tau**2
    return -0.5 * np.log(spread) + 0.5 * n * (
        np.log1p(t**2 / nu) - np.log1p(t**2 / (nu * spread)))


def t_radius(n: np.ndarray, tau: float, alpha: float) -> np.ndarray:
    """The |t| at which the t-mixture reaches 1/alpha (inf where it never can)."""
    nu = n - 1.0
    spread = 1.0 + n * tau**2
    k = np.exp((np.log(1.0 / alpha) + 0.5 * np.log(spread)) / (0.5 * n))
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (k - 1.0) / (1.0 - k / spread)
    return np.where(k < spread, np.sqrt(nu * np.maximum(u, 0.0)), np.inf)


class GaugeTest:
    """Anytime-valid test on batch means of canary-minus-baseline gauge values.

    ``margin`` is the allowed worsening (in the unit of the difference, or the log of a
    ratio tolerance when ``compare="log_ratio"``); ``direction`` says which way is
    worse. ``batch`` looks form one batch mean: use >= 10 for per-minute looks with
    moderate autocorrelation, 15-20 for strong.
    """

    def __init__(
        self,
        *,
        alpha: float = 0.05,
        margin: float = 0.0,
        direction: Direction = "increase",
        compare: Compare = "difference",
        batch: int = 10,
        tau: float = 1.0,
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise InputError(f"alpha must be in (0, 1), got {alpha}")
        if direction not in ("increase", "decrease", "either"):
            raise InputError(f"direction must be increase, decrease or either, not {direction!r}")
        if compare not in ("difference", "log_ratio"):
            raise InputError(f"compare must be difference or log_ratio, not {compare!r}")
        if batch < 1 or tau <= 0 or not np.isfinite(margin) or margin < 0:
            raise InputError("batch must be >= 1, tau > 0 and margin a finite number >= 0")
        self.alpha, self.margin, self.direction = alpha, margin, direction
        self.compare, self.batch, self.tau = compare, batch, tau
        self._size: int | None = None
        self.looks = 0

    def _start(self, size: int) -> None:
        self._size = size
        self._open_sum = np.zeros(size)
        self._open_n = np.zeros(size, dtype=np.int64)
        self._n = np.zeros(size)
        self._mean = np.zeros(size)  # of the batch means (Welford's running update)
        self._m2 = np.zeros(size)
        self._scale = np.zeros(size)  # largest |batch mean| so far: keeps t scale-free
        self._log_e = np.zeros(size)
        self._log_e_max = np.zeros(size)
        self._lower = np.full(size, -np.inf)
        self._upper = np.full(size, np.inf)
        self._streak = np.zeros(size, dtype=np.int64)
        self._data_looks = np.zeros(size, dtype=np.int64)

    def update(self, *, canary: Any, baseline: Any) -> TestResult:
        """Add one look's canary and baseline values and return the test's state."""
        arrays, scalar = look_arrays(self._size, {"canary": canary, "baseline": baseline})
        if self._size is None:
            self._start(len(arrays["canary"]))
        self.looks += 1
        c, b = arrays["canary"], arrays["baseline"]
        checks = bad_numbers(arrays, len(c)) + [
            (np.abs(v) > MAX_VALUE, f"{k} is implausibly large (over {MAX_VALUE:.0e})")
            for k, v in arrays.items()]
        if self.compare == "log_ratio":
            checks += [(c <= 0, "canary value is not positive (log ratio undefined)"),
                       (b <= 0, "baseline value is not positive (log ratio undefined)")]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            d = np.log(c) - np.log(b) if self.compare == "log_ratio" else c - b
        checks.append((~np.isfinite(d), "canary - baseline overflowed"))
        reasons = problems(checks, len(c))
        ok = reasons == ""
        self._streak = np.where(ok, 0, self._streak + 1)
        self._data_looks += ok
        self._open_sum += np.where(ok, d, 0.0)
        self._open_n += ok
        closed = self._open_n >= self.batch
        if closed.any():
            self._close_batches(closed)
        return unwrap(self._result(reasons), scalar)

    def _close_batches(self, closed: np.ndarray) -> None:
        batch_mean = self._rescaled(closed, self._open_sum[closed] / self._open_n[closed])
        self._n[closed] += 1
        with np.errstate(over="ignore", invalid="ignore"):  # inf spread -> no evidence
            delta = batch_mean - self._mean[closed]
            self._mean[closed] += delta / self._n[closed]
            self._m2[closed] += delta * (batch_mean - self._mean[closed])
        self._open_sum[closed] = 0.0
        self._open_n[closed] = 0
        rows = np.flatnonzero(closed & (self._n >= 2))
        if rows.size == 0:
            return
        n = self._n[rows]
        unit = np.where(self._scale[rows] > 0, self._scale[rows], 1.0)
        avg = self._mean[rows]  # in units of ``unit``
        with np.errstate(invalid="ignore", over="ignore"):
            mean = avg * unit
        se = np.sqrt(np.maximum(self._m2[rows], 0.0) / (n - 1.0) / n)
        centre = self._null_centre(mean) / unit
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            t = np.where(se > 0, (avg - centre) / se, np.sign(avg - centre) * 1e12)
        t = np.nan_to_num(np.clip(t, -1e12, 1e12), nan=0.0)
        log_e = t_mixture_log_e(t, n, self.tau)
        self._log_e[rows] = np.where(self._bad_side(mean), log_e, 0.0)
        self._log_e_max[rows] = np.maximum(self._log_e_max[rows], self._log_e[rows])
        with np.errstate(over="ignore", invalid="ignore"):  # inf radius x 0 spread: no bound
            radius = np.nan_to_num(t_radius(n, self.tau, self.alpha) * se, nan=np.inf,
                                   posinf=np.inf)
            self._lower[rows] = np.maximum(self._lower[rows], (avg - radius) * unit)
            self._upper[rows] = np.minimum(self._upper[rows], (avg + radius) * unit)

    def _rescaled(self, closed: np.ndarray, batch_mean: np.ndarray) -> np.ndarray:
        """A batch mean in units of the largest |batch mean| so far (state rescaled to match).

        The t statistic does not depend on the unit, but float arithmetic does: values
        around 1e-180 or 1e180 would underflow or overflow when squared. In these units
        every batch mean lies in [-1, 1].
        """
        old = self._scale[closed]
        new = np.maximum(old, np.abs(batch_mean))
        ratio = np.where(new > 0, old / np.where(new > 0, new, 1.0), 1.0)
        self._mean[closed] *= ratio
        self._m2[closed] *= ratio**2
        self._scale[closed] = new
        return batch_mean / np.where(new > 0, new, 1.0)

    def _null_centre(self, avg: np.ndarray) -> np.ndarray:
        """The edge of the null nearest the estimate: testing against it is valid (the
        t statistic is never larger than against the true mean) and most powerful."""
        if self.direction == "increase":
            return np.full_like(avg, self.margin)
        if self.direction == "decrease":
            return np.full_like(avg, -self.margin)
        return np.where(avg >= 0, self.margin, -self.margin)

    def _bad_side(self, avg: np.ndarray) -> np.ndarray:
        if self.direction == "increase":
            return avg > self.margin
        if self.direction == "decrease":
            return avg < -self.margin
        return np.abs(avg) > self.margin

    def _result(self, reasons: np.ndarray) -> TestResult:
        estimate = np.where(self._n > 0, self._mean * np.where(self._scale > 0, self._scale, 1.0),
                            np.nan)
        crossed = self._lower > self._upper  # the running intersection emptied: model off
        lower = np.where(crossed, np.nan, self._lower)
        upper = np.where(crossed, np.nan, self._upper)
        unit = "difference canary-baseline"
        if self.compare == "log_ratio":
            with np.errstate(over="ignore"):
                estimate, lower, upper = np.exp(estimate), np.exp(lower), np.exp(upper)
            unit = "ratio canary/baseline"
        with np.errstate(over="ignore"):
            e_value = np.exp(self._log_e)
        return TestResult(
            e_value=e_value,
            p_value=np.minimum(1.0, np.exp(-self._log_e_max)),
            rejected=self._log_e_max >= np.log(1.0 / self.alpha),
            estimate=estimate,
            lower=lower,
            upper=upper,
            status=np.where(reasons == "", OK, NO_DATA).astype(object),
            reason=reasons,
            no_data_streak=self._streak.copy(),
            data_looks=self._data_looks.copy(),
            looks=self.looks,
            effect=f"mean {unit} over batches of {self.batch} looks",
            counts={"batches": self._n.copy(), "looks_in_open_batch": self._open_n.copy()},
        )
