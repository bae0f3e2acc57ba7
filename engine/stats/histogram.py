"""Latency from Prometheus histograms: more slow requests in the canary than in the baseline?

Prometheus keeps cumulative bucket counts, not samples, so a latency test cannot sort
durations. What it can count exactly is, for a bucket boundary tau, the requests slower
than tau in a look: ``count(+Inf) - bucket(le=tau)``. "The canary has more requests
slower than tau than the baseline" is then an error-rate question, answered by
:class:`~auspice.stats.count.CountTest` with events = slow requests.

The boundaries must not be chosen from the data under test (that would be a look at the
answer); :func:`choose_boundaries` picks the bucket boundaries nearest the baseline's
quantiles in a window before the canary starts. Each boundary is its own e-process; the
test's e-value is their average, itself an e-value under any dependence between the
boundaries, so the test needs no further alpha split and rejects when the average
crosses 1/alpha (which happens no later than a Bonferroni split would reject).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from auspice.errors import InputError
from auspice.stats.count import CountTest, Mode
from auspice.stats.results import NO_DATA, OK, TestResult, unwrap

DEFAULT_QUANTILES = (0.5, 0.9, 0.99)


def choose_boundaries(
    *,
    le: Sequence[float],
    baseline_buckets: Sequence[float],
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> list[float]:
    """Bucket boundaries nearest the baseline's ``quantiles``, from pre-canary counts.

    ``baseline_buckets`` are cumulative counts per ``le`` over a window before the
    canary started. For each quantile the boundary whose cumulative share is nearest
    to it is taken (never ``+Inf``, which no request is slower than). Duplicates are
    merged, so three quantiles may give fewer boundaries on a coarse histogram.
    """
    bounds, counts = _sorted_buckets(le, baseline_buckets)
    if counts.ndim != 1:
        raise InputError(f"baseline_buckets must be one histogram (1-D), got shape {counts.shape}")
    finite = np.isfinite(bounds)
    total = counts[-1]
    if total <= 0 or not np.isfinite(total):
        raise InputError("the baseline histogram has no requests in the pre-canary window; "
                         "widen the window or check the query")
    if finite.sum() == 0:
        raise InputError("the histogram has only the +Inf bucket; it cannot measure latency")
    shares = counts[finite] / total
    chosen = []
    for q in quantiles:
        if not 0.0 < q < 1.0:
            raise InputError(f"quantile {q} is outside (0, 1)")
        chosen.append(float(bounds[finite][np.argmin(np.abs(shares - q))]))
    return sorted(set(chosen))


def _sorted_buckets(le: Sequence[float], buckets: Any) -> tuple[np.ndarray, np.ndarray]:
    try:
        bounds = np.asarray(le, dtype=float)
        counts = np.asarray(buckets, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"le and bucket counts must be numbers ({exc})") from exc
    if bounds.ndim != 1 or counts.ndim not in (1, 2) or counts.shape[-1] != bounds.size:
        raise InputError(f"bucket counts of shape {counts.shape} do not fit {bounds.size} 'le' "
                         "boundaries; give (B,) for one metric or (M, B) for M metrics")
    if not np.isposinf(bounds).any():
        raise InputError("the histogram has no le=\"+Inf\" bucket, so its total is unknown")
    order = np.argsort(bounds)
    return bounds[order], counts[..., order]


def _matches(bounds: np.ndarray, boundary: float) -> np.ndarray:
    """Which ``le`` values equal ``boundary`` (relative tolerance: ``le`` may be tiny)."""
    return np.isclose(bounds, boundary, rtol=1e-9, atol=0.0)


class HistogramTest:
    """Anytime-valid test that the canary is not slower at any chosen boundary.

    ``boundaries`` are latency values that must be among the histogram's ``le``
    values (use :func:`choose_boundaries`). Per look, :meth:`update` takes the ``le``
    values and the canary's and baseline's bucket increases for them, shaped ``(B,)``
    for one metric or ``(M, B)`` for M metrics.
    """

    def __init__(
        self,
        *,
        boundaries: Sequence[float],
        alpha: float = 0.05,
        tolerance: float = 1.0,
        mode: Mode = "binomial",
    ) -> None:
        self.boundaries = np.asarray(sorted(boundaries), dtype=float)
        if self.boundaries.size == 0 or not np.isfinite(self.boundaries).all():
            raise InputError("a histogram test needs at least one finite boundary")
        self.alpha = alpha
        self._counts = CountTest(alpha=alpha, tolerance=tolerance, mode=mode)
        self._log_e_max: np.ndarray | None = None
        self.looks = 0

    def update(self, *, le: Sequence[float], canary_buckets: Any,
               baseline_buckets: Any) -> TestResult:
        """Add one look of bucket increases and return the test's state."""
        canary, scalar = self._slow_and_total(le, canary_buckets, "canary_buckets")
        baseline, _ = self._slow_and_total(le, baseline_buckets, "baseline_buckets")
        if canary[0].shape != baseline[0].shape:
            raise InputError(f"canary has {canary[0].shape[0]} metrics, baseline "
                             f"{baseline[0].shape[0]}")
        metrics, k = canary[0].shape
        per_boundary = self._counts.update(
            canary_events=canary[0].ravel(), canary_total=canary[1].ravel(),
            baseline_events=baseline[0].ravel(), baseline_total=baseline[1].ravel())
        self.looks += 1
        return unwrap(self._combine(per_boundary, metrics, k), scalar)

    def _slow_and_total(self, le, buckets, name) -> tuple[tuple[np.ndarray, np.ndarray], bool]:
        try:
            bounds, counts = _sorted_buckets(le, buckets)
        except InputError as exc:
            raise InputError(f"{name}: {exc}") from exc
        scalar = counts.ndim == 1
        counts = np.atleast_2d(counts)
        missing = [b for b in self.boundaries if not _matches(bounds, b).any()]
        if missing:
            raise InputError(f"{name}: boundaries {missing} are not among the histogram's "
                             f"le values {bounds.tolist()}")
        idx = [int(np.flatnonzero(_matches(bounds, b))[0]) for b in self.boundaries]
        total = counts[:, -1:]
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: spoiled below
            slow = total - counts[:, idx]
        total = np.broadcast_to(total, slow.shape).copy()
        # A negative or non-finite count, or buckets that are not cumulative (counters
        # read at different moments, a reset) spoil the whole histogram of that look,
        # not just one boundary.
        with np.errstate(invalid="ignore", over="ignore"):
            finite = np.isfinite(counts).all(axis=1)
            spoiled = ~finite | (counts < 0).any(axis=1)
            spoiled[finite] |= (np.diff(counts[finite], axis=1) < 0).any(axis=1)
        slow[spoiled] = np.nan
        total[spoiled] = np.nan
        return (slow, total), scalar

    def _combine(self, r: TestResult, metrics: int, k: int) -> TestResult:
        def per(a: Any) -> np.ndarray:
            return np.asarray(a).reshape(metrics, k)

        with np.errstate(divide="ignore"):  # an e-value that underflowed to 0 is -inf
            log_e = np.log(per(r.e_value).mean(axis=1))
        if self._log_e_max is None:
            self._log_e_max = np.zeros(metrics)
        self._log_e_max = np.maximum(self._log_e_max, log_e)
        status = per(r.status)
        ok = (status == OK).all(axis=1)
        reasons = per(r.reason)[:, -1].copy()  # the first boundary's reason that is not ""
        for column in per(r.reason).T[-2::-1]:
            reasons = np.where(column != "", column, reasons)
        # the boundary with the most evidence, among those with data
        worst = np.where(np.isnan(per(r.estimate)), -np.inf, per(r.e_value)).argmax(axis=1)
        rows = np.arange(metrics)
        counts = {f"{key}_at_{b:g}": per(value)[:, j]
                  for key, value in r.counts.items() for j, b in enumerate(self.boundaries)}
        counts["worst_boundary"] = self.boundaries[worst]
        with np.errstate(over="ignore"):
            e_value = np.exp(log_e)
        return TestResult(
            e_value=e_value,
            p_value=np.minimum(1.0, np.exp(-self._log_e_max)),
            rejected=self._log_e_max >= np.log(1.0 / self.alpha),
            estimate=per(r.estimate)[rows, worst],
            lower=per(r.lower)[rows, worst],
            upper=per(r.upper).max(axis=1),
            status=np.where(ok, OK, NO_DATA).astype(object),
            reason=reasons,
            no_data_streak=per(r.no_data_streak).max(axis=1),
            data_looks=per(r.data_looks).min(axis=1),
            looks=self.looks,
            effect="ratio of slow-request rates canary/baseline at the worst boundary",
            counts=counts,
        )
