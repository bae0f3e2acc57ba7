"""Error rates: is the canary's event rate more than ``tolerance`` times the baseline's?

Per look the caller gives the increases of four counters: canary events and requests,
baseline events and requests. Conditional on the look's total events m and the canary's
share of traffic rho_t (which changes whenever weights move, so it is per look), the
canary's events are Binomial(m, q_t(r)) with q_t(r) = rho_t r / (rho_t r + 1 - rho_t),
r being the ratio of the two error rates. STATISTICS.md section 1 has the derivation.

The e-process is a mixture of likelihood ratios LR_t(r0 e^delta) / LR_t(r0) over a
fixed grid of log-ratio excesses delta with equal weights. The grid was chosen by
simulation (``benchmarks/count_prior.py``): geometric from 0.15 to 2.2 (ratios 1.16x
to 9x of the tolerance) with 15 points kept the median events to detection within
1.29x-1.37x of the oracle SPRT for r in {1.25, 1.5, 2, 3} at canary shares 0.1 and 0.5,
while wider or finer grids lost up to 0.2x at one end or the other.

Alongside the test, a two-sided mixture over a grid of log-ratios gives a confidence
sequence for r: the set of ratios whose likelihood is within log(1/alpha) of the
mixture's, intersected over looks. Its upper end below the tolerance is what lets a
verdict pass early.

Intervals: the two-sided mixture is valid on its own at level alpha, and so is the
one-sided test; the reported lower end is the larger of the mixture's and, once the
test has rejected, the tolerance. Taken together (a union of two level-alpha
statements) the reported interval covers the true ratio with probability at least
1 - 2 alpha at all looks at once; each end alone, at least 1 - alpha.

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
from auspice.stats.fastmath import logsumexp, softplus
from auspice.stats.inputs import bad_numbers, look_arrays, negative_counts, problems
from auspice.stats.results import NO_DATA, OK, TestResult, unwrap

#: Log-ratio excesses over the tolerance that the mixture bets on (equal weights).
ALTERNATIVE_DELTAS = np.geomspace(0.15, 2.2, 15)
#: Log-ratios of the confidence-sequence grid (ratios 1/16 .. 16, about 15% apart; the
#: bounds are interpolated between grid points, and a bound beyond the grid is open).
INTERVAL_THETAS = np.linspace(np.log(1 / 16), np.log(16), 41)
_INTERVAL_LOG_PRIOR = -0.5 * INTERVAL_THETAS**2 - logsumexp(-0.5 * INTERVAL_THETAS**2)
#: Bet sizes (fractions of the largest safe bet) mixed by the burst-robust mode.
BURST_FRACTIONS = np.array([0.05, 0.1, 0.2, 0.35, 0.6])
_BURST_THETAS = INTERVAL_THETAS[::2]
_BURST_LOG_PRIOR = -0.5 * _BURST_THETAS**2 - logsumexp(-0.5 * _BURST_THETAS**2)

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
        deltas: np.ndarray | None = None,
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
        self._deltas = ALTERNATIVE_DELTAS if deltas is None else np.asarray(deltas, float)
        self._log_weights = np.full(self._deltas.size, -np.log(self._deltas.size))
        self._size: int | None = None
        self.looks = 0

    # -- state ---------------------------------------------------------------------

    def _start(self, size: int) -> None:
        self._size = size
        thetas = _BURST_THETAS if self.mode == "burst" else INTERVAL_THETAS
        width = BURST_FRACTIONS.size if self.mode == "burst" else self._deltas.size
        self._log_test = np.zeros((size, width))
        bets_per_theta = 2 * BURST_FRACTIONS.size if self.mode == "burst" else 1
        self._log_interval = np.zeros((size, thetas.size * bets_per_theta))
        self._log_e_max = np.zeros(size)
        self._lower = np.full(size, -np.inf)
        self._upper = np.full(size, np.inf)
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
            # Clipped so that q_t stays a positive float even for absurd shares.
            logit_share = np.clip(np.log(n_c[rows]) - np.log(n_b[rows]), -600.0, 600.0)
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
        if self.mode == "burst":
            self._absorb_burst(rows, x_c, x_b, logit)
        else:
            self._absorb_binomial(rows, x_c, x_b, logit)
        theta = _BURST_THETAS if self.mode == "burst" else INTERVAL_THETAS
        self._narrow_interval(rows, theta)

    def _absorb_binomial(self, rows, x_c, x_b, logit) -> None:
        """Add the look's binomial log-likelihood ratios (x_c log q + x_b log(1-q))."""
        m = (x_c + x_b)[:, None]
        x_c = x_c[:, None]

        def loglik(theta: np.ndarray) -> np.ndarray:
            z = theta[None, :] + logit[:, None]
            return x_c * z - m * softplus(z)

        null = loglik(np.array([self._theta0]))
        self._log_test[rows] += loglik(self._theta0 + self._deltas) - null
        self._log_interval[rows] += loglik(INTERVAL_THETAS)
        log_e = logsumexp(self._log_test[rows] + self._log_weights, axis=1)
        self._log_e_max[rows] = np.maximum(self._log_e_max[rows], log_e)

    def _absorb_burst(self, rows, x_c, x_b, logit) -> None:
        """Bet on the canary's share of the look's events, Y = x_c / m."""
        share = (x_c / (x_c + x_b))[:, None]
        f = BURST_FRACTIONS[None, :]
        q0 = 1.0 / (1.0 + np.exp(-(self._theta0 + logit)))[:, None]
        self._log_test[rows] += np.log1p(f * (share / q0 - 1.0))
        log_e = logsumexp(self._log_test[rows], axis=1) - np.log(BURST_FRACTIONS.size)
        self._log_e_max[rows] = np.maximum(self._log_e_max[rows], log_e)
        q = 1.0 / (1.0 + np.exp(-(_BURST_THETAS[None, :] + logit[:, None])))
        up = np.log1p(f[:, None, :] * (share[:, :, None] / q[:, :, None] - 1.0))
        down = np.log1p(-f[:, None, :] * (share[:, :, None] - q[:, :, None]) / (1 - q[:, :, None]))
        bets = np.concatenate([up, down], axis=2).reshape(len(rows), -1)
        self._log_interval[rows] += bets

    def _narrow_interval(self, rows: np.ndarray, theta: np.ndarray) -> None:
        """Intersect the running interval with this look's confidence set."""
        threshold = np.log(1.0 / self.alpha)
        if self.mode == "burst":
            per_theta = self._log_interval[rows].reshape(len(rows), theta.size, -1)
            log_e = logsumexp(per_theta, axis=2) - np.log(per_theta.shape[2])
            inside = log_e < threshold
            score = threshold - log_e
        else:
            loglik = self._log_interval[rows]
            log_mix = logsumexp(loglik + _INTERVAL_LOG_PRIOR, axis=1, keepdims=True)
            score = loglik - (log_mix - threshold)
            inside = score >= 0
        lower, upper = _set_bounds(theta, score, inside, interpolate=self.mode == "binomial")
        self._lower[rows] = np.maximum(self._lower[rows], lower)
        self._upper[rows] = np.minimum(self._upper[rows], upper)

    # -- answer --------------------------------------------------------------------

    def _result(self, reasons: np.ndarray) -> TestResult:
        t = self._totals
        log_e = self._current_log_e()
        with np.errstate(over="ignore"):  # overwhelming evidence is reported as +Inf
            e_value = np.exp(log_e)
        p_value = np.minimum(1.0, np.exp(-self._log_e_max))
        with np.errstate(divide="ignore", invalid="ignore"):
            estimate = (t["canary_events"] / t["canary_total"]) / (
                t["baseline_events"] / t["baseline_total"])
        rejected = self._log_e_max >= np.log(1.0 / self.alpha)
        # The test's own conclusion belongs to the interval: once it rejects r <= r0,
        # the lower end is at least r0 (see "Intervals" in the module docstring).
        lower = np.exp(np.where(rejected, np.maximum(self._lower, self._theta0), self._lower))
        upper = np.exp(self._upper)
        crossed = lower > upper  # the running intersection became empty: the model is off
        lower = np.where(crossed, np.nan, lower)
        upper = np.where(crossed, np.nan, upper)
        return TestResult(
            e_value=e_value,
            p_value=p_value,
            rejected=rejected,
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

    def _current_log_e(self) -> np.ndarray:
        if self.mode == "burst":
            return logsumexp(self._log_test, axis=1) - np.log(BURST_FRACTIONS.size)
        return logsumexp(self._log_test + self._log_weights, axis=1)


def _set_bounds(theta: np.ndarray, score: np.ndarray, inside: np.ndarray, *,
                interpolate: bool):
    """Ends of the set {theta: score >= 0} per row.

    The binomial likelihood is concave in theta, so the set is an interval, and its
    score is smooth enough to interpolate the ends between grid points. The burst-robust
    e-process is not: there the ends are the nearest excluded grid points (conservative).
    An empty set keeps the whole grid (no information yet) and a set touching an edge of
    the grid is open on that side (the ratio may lie beyond the grid).
    """
    n = theta.size
    any_inside = inside.any(axis=1)
    first = np.where(any_inside, inside.argmax(axis=1), 0)
    last = np.where(any_inside, n - 1 - inside[:, ::-1].argmax(axis=1), n - 1)
    rows = np.arange(len(score))
    lower = theta[first].astype(float)
    upper = theta[last].astype(float)
    step = theta[1] - theta[0]
    has_left = any_inside & (first > 0)
    s_in, s_out = score[rows, first], score[rows, np.maximum(first - 1, 0)]
    frac = np.clip(s_in / np.where(s_in - s_out > 0, s_in - s_out, 1.0), 0.0, 1.0)
    frac = frac if interpolate else 1.0
    lower = np.where(has_left, lower - frac * step, -np.inf)
    has_right = any_inside & (last < n - 1)
    s_in, s_out = score[rows, last], score[rows, np.minimum(last + 1, n - 1)]
    frac = np.clip(s_in / np.where(s_in - s_out > 0, s_in - s_out, 1.0), 0.0, 1.0)
    frac = frac if interpolate else 1.0
    upper = np.where(has_right, upper + frac * step, np.inf)
    return lower, upper
