"""Error rates: is the canary's event rate more than ``tolerance`` times the baseline's?

Per look the caller gives the increases of four counters: canary events and requests,
baseline events and requests. Conditional on the look's total events m and the canary's
share of traffic rho_t (which changes whenever weights move, so it is per look), the
canary's events are Binomial(m, q_t(r)) with q_t(r) = rho_t r / (rho_t r + 1 - rho_t),
r being the ratio of the two error rates. docs/judges.md has the derivation.

The e-process is a mixture of likelihood ratios LR_t(r0 e^delta) / LR_t(r0) over a
fixed set of log-ratio excesses delta (0.17 to 2.17) with weights proportional to
delta^-1/2, chosen by simulation (``benchmarks/count_prior.py``) to keep the median
events to detection within 1.5x of the oracle SPRT for r in {1.25, 1.5, 2, 3} at canary
shares 0.1 and 0.5.

The interval inverts the same test over r0 (:mod:`auspice.stats.ratio_families`):
its lower end is the largest ratio the test has ever rejected as an upper limit, its
upper end the smallest ratio the mirrored test has rejected as a lower limit. A test
that rejects therefore never shows an interval reaching below the tolerance, and an
upper end below the tolerance is what lets a verdict pass early. Each end is a
(1 - alpha) bound valid at all looks; the ends are grid points (9% apart in ratio)
rounded outwards, and ratios beyond 1/8 .. 8 times the tolerance are left open.

``mode="burst"`` is the burst-robust variant: the unit is the look, not the event. It
bets on the canary's share of the look's events, Y_t = x_c / m, whose mean is at most
q_t(r0) under the null however the events cluster, with a mixture of bet sizes. A
burst of errors in one arm then moves the evidence by a bounded factor instead of by
the burst's size, at the price of slower detection of steady regressions.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from auspice.errors import InputError
from auspice.stats.inputs import bad_numbers, look_arrays, negative_counts, problems
from auspice.stats.ratio_families import (
    ALTERNATIVE_STEPS,
    ALTERNATIVE_WEIGHTS,
    BURST_FRACTIONS,
    NULL_STEPS,
    STEP,
    BinomialFamily,
    BurstFamily,
    centre_log_e,
    extend_bound,
)
from auspice.stats.results import NO_DATA, OK, TestResult, unwrap

#: Log-ratio excesses over the tolerance that the mixture bets on (equal weights).
ALTERNATIVE_DELTAS = STEP * ALTERNATIVE_STEPS
__all__ = ["ALTERNATIVE_DELTAS", "ALTERNATIVE_WEIGHTS", "BURST_FRACTIONS", "MAX_COUNT",
           "CountTest"]

#: Larger per-look counts are refused as data errors: no service sees them, and beyond
#: them the log-likelihood arithmetic would overflow.
MAX_COUNT = 1e20

Mode = Literal["binomial", "burst"]


class CountTest:
    """Anytime-valid one-sided test of canary error rate <= tolerance x baseline's.

    Call :meth:`update` once per look with the counter increases of that look. Scalars
    judge one metric; 1-D arrays judge many metrics at once (one row each).
    """

    def __init__(
        self,
        *,
        alpha: float = 0.05,
        tolerance: float = 1.0,
        mode: Mode = "binomial",
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise InputError(f"alpha must be in (0, 1), got {alpha}")
        if not (np.isfinite(tolerance) and tolerance > 0):
            raise InputError(f"tolerance must be a positive ratio, got {tolerance}")
        if mode not in ("binomial", "burst"):
            raise InputError(f"mode must be 'binomial' or 'burst', got {mode!r}")
        self.alpha = alpha
        self.tolerance = tolerance
        self.mode = mode
        self._theta0 = float(np.log(tolerance))
        self._threshold = float(np.log(1.0 / alpha))
        self._size: int | None = None
        self.looks = 0

    # -- state ---------------------------------------------------------------------

    def _start(self, size: int) -> None:
        self._size = size
        family = BurstFamily if self.mode == "burst" else BinomialFamily
        self._family = family(size, self._theta0)
        self._log_e = np.zeros(size)
        self._log_e_max = np.zeros(size)
        self._lo = np.full(size, -NULL_STEPS - 1)  # largest null ever rejected from below
        self._hi = np.full(size, NULL_STEPS + 1)  # smallest null ever rejected from above
        self._streak = np.zeros(size, dtype=np.int64)
        self._data_looks = np.zeros(size, dtype=np.int64)
        self._totals = {k: np.zeros(size) for k in ("canary_events", "canary_total",
                                                    "baseline_events", "baseline_total")}

    # -- the look ------------------------------------------------------------------

    def update(
        self,
        *,
        canary_events: Any,
        canary_total: Any,
        baseline_events: Any,
        baseline_total: Any,
    ) -> TestResult:
        """Add one look (increases over the interval) and return the test's state."""
        arrays, scalar = look_arrays(self._size, {
            "canary_events": canary_events, "canary_total": canary_total,
            "baseline_events": baseline_events, "baseline_total": baseline_total,
        })
        if self._size is None:
            self._start(len(arrays["canary_total"]))
        self.looks += 1
        reasons = self._no_data_reasons(arrays)
        ok = reasons == ""
        self._streak = np.where(ok, 0, self._streak + 1)
        self._data_looks += ok
        x_c, n_c = arrays["canary_events"], arrays["canary_total"]
        x_b, n_b = arrays["baseline_events"], arrays["baseline_total"]
        for key, value in arrays.items():
            self._totals[key] += np.where(ok, value, 0.0)
        informative = ok & ((x_c > 0) | (x_b > 0))
        if informative.any():
            rows = np.flatnonzero(informative)
            logit_share = np.log(n_c[rows]) - np.log(n_b[rows])
            self._absorb(rows, x_c[rows], x_b[rows], logit_share)
        return unwrap(self._result(reasons), scalar)

    def _no_data_reasons(self, a: dict[str, np.ndarray]) -> np.ndarray:
        length = len(a["canary_total"])
        checks = bad_numbers(a, length) + negative_counts(a) + [
            (a["canary_events"] > a["canary_total"], "canary_events exceed canary_total"),
            (a["baseline_events"] > a["baseline_total"], "baseline_events exceed baseline_total"),
            *[(v > MAX_COUNT, f"{k} is implausibly large (over {MAX_COUNT:.0e} in one look)")
              for k, v in a.items()],
            (a["canary_total"] == 0, "the canary had no requests in this look"),
            (a["baseline_total"] == 0, "the baseline had no requests in this look"),
        ]
        return problems(checks, length)

    def _absorb(self, rows: np.ndarray, x_c: np.ndarray, x_b: np.ndarray,
                logit: np.ndarray) -> None:
        """Add the look to every null's e-process, then re-read the test and the bounds."""
        self._family.absorb(rows, x_c, x_b, logit)
        self._log_e[rows] = centre_log_e(self._family, rows)
        self._log_e_max[rows] = np.maximum(self._log_e_max[rows], self._log_e[rows])
        self._lo[rows] = extend_bound(self._family, rows, self._lo[rows], self._threshold, +1)
        self._hi[rows] = extend_bound(self._family, rows, self._hi[rows], self._threshold, -1)

    # -- answer --------------------------------------------------------------------

    def _result(self, reasons: np.ndarray) -> TestResult:
        t = self._totals
        with np.errstate(over="ignore"):  # overwhelming evidence is reported as +Inf
            e_value = np.exp(self._log_e)
        p_value = np.minimum(1.0, np.exp(-self._log_e_max))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            estimate = (t["canary_events"] / t["canary_total"]) / (
                t["baseline_events"] / t["baseline_total"])
        lower = np.where(self._lo >= -NULL_STEPS, np.exp(self._theta0 + STEP * self._lo), 0.0)
        upper = np.where(self._hi <= NULL_STEPS, np.exp(self._theta0 + STEP * self._hi), np.inf)
        crossed = self._lo >= self._hi  # both families rejected the same ratio: model off
        lower = np.where(crossed, np.nan, lower)
        upper = np.where(crossed, np.nan, upper)
        return TestResult(
            e_value=e_value,
            p_value=p_value,
            rejected=self._log_e_max >= self._threshold,
            estimate=estimate,
            lower=lower,
            upper=upper,
            status=np.where(reasons == "", OK, NO_DATA).astype(object),
            reason=reasons,
            no_data_streak=self._streak.copy(),
            data_looks=self._data_looks.copy(),
            looks=self.looks,
            effect="rate ratio canary/baseline",
            counts={key: value.copy() for key, value in t.items()},
        )
