"""Simulated canaries for the benchmarks: many runs at once, one look at a time.

A scenario yields, look by look, what a judge would read from Prometheus for N
independent runs: request and error counts per arm (counts), bucket counts per arm
(histograms), or one value per arm (gauges). Seeds are fixed, so every judge in one
benchmark run sees the very same looks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

MINUTES_PER_DAY = 1440
#: Canary weight steps (percent) of the A/A runs, each held for a quarter of the day.
WEIGHT_STEPS = (5, 25, 50, 100)
#: Istio's default request-duration buckets (milliseconds).
ISTIO_BUCKETS = np.array([0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
                          30000, 60000, 300000, 600000, 1800000, 3600000, np.inf])


def diurnal_rpm(minute: int, base: float) -> float:
    """Requests per minute following a day: 0.4x base at night, 1.6x at the peak."""
    return base * (1.0 + 0.6 * np.sin(2 * np.pi * (minute - 360) / MINUTES_PER_DAY))


def stepped_share(minute: int, looks: int) -> float:
    """The canary's weight at ``minute``: 5/25/50/100 percent, a quarter of the run each."""
    return WEIGHT_STEPS[min(3, minute * 4 // looks)] / 100.0


@dataclass(frozen=True)
class CountLook:
    canary_events: np.ndarray
    canary_total: np.ndarray
    baseline_events: np.ndarray
    baseline_total: np.ndarray

    def args(self) -> tuple[np.ndarray, ...]:
        return self.canary_events, self.canary_total, self.baseline_events, self.baseline_total


def aa_counts(*, runs: int, seed: int, looks: int = MINUTES_PER_DAY, base_rpm: float = 1000.0,
              error_rate: float = 0.005, bursts: bool = False) -> Iterator[CountLook]:
    """Identical versions under diurnal traffic and weight steps; optionally bursty errors.

    A burst (2% of minutes) is one incident: 1 + Poisson(15) failed requests landing in
    one arm, the canary with probability equal to its traffic share, so the versions
    stay identical in expectation while errors cluster.
    """
    rng = np.random.default_rng(seed)
    for minute in range(looks):
        share = stepped_share(minute, looks)
        rpm = diurnal_rpm(minute, base_rpm)
        n_c = rng.poisson(rpm * share, runs).astype(float)
        n_b = rng.poisson(rpm * (1 - share), runs).astype(float)
        x_c = rng.binomial(n_c.astype(int), error_rate).astype(float)
        x_b = rng.binomial(n_b.astype(int), error_rate).astype(float)
        if bursts:
            hit = rng.random(runs) < 0.02
            size = 1.0 + rng.poisson(15, runs)
            to_canary = rng.random(runs) < share
            x_c += np.where(hit & to_canary, size, 0.0)
            n_c += np.where(hit & to_canary, size, 0.0)
            x_b += np.where(hit & ~to_canary, size, 0.0)
            n_b += np.where(hit & ~to_canary, size, 0.0)
        yield CountLook(x_c, n_c, x_b, n_b)


def regressed_counts(*, runs: int, seed: int, ratio: float, share: float, looks: int,
                     rpm: float = 400.0, error_rate: float = 0.005) -> Iterator[CountLook]:
    """A canary whose error rate is ``ratio`` x the baseline's, at a constant share."""
    rng = np.random.default_rng(seed)
    for _ in range(looks):
        n_c = rng.poisson(rpm * share, runs).astype(float)
        n_b = rng.poisson(rpm * (1 - share), runs).astype(float)
        x_c = rng.binomial(n_c.astype(int), min(1.0, error_rate * ratio)).astype(float)
        x_b = rng.binomial(n_b.astype(int), error_rate).astype(float)
        yield CountLook(x_c, n_c, x_b, n_b)


def bucket_probabilities(*, median_ms: float = 50.0, sigma: float = 0.6) -> np.ndarray:
    """Cumulative share of requests at or under each Istio bucket, for lognormal latency."""
    return norm.cdf((np.log(ISTIO_BUCKETS) - np.log(median_ms)) / sigma)


@dataclass(frozen=True)
class HistogramLook:
    canary: np.ndarray  # (runs, buckets) cumulative counts, le ascending
    baseline: np.ndarray


def _cumulative_buckets(rng, totals: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    cell = np.diff(np.concatenate([[0.0], cdf]))
    counts = rng.multinomial(totals.astype(np.int64), cell / cell.sum())
    return np.cumsum(counts, axis=1).astype(float)


def aa_histograms(*, runs: int, seed: int, looks: int = MINUTES_PER_DAY,
                  base_rpm: float = 1000.0) -> Iterator[HistogramLook]:
    """Identical latency distributions under diurnal traffic and weight steps."""
    rng = np.random.default_rng(seed)
    cdf = bucket_probabilities()
    for minute in range(looks):
        share = stepped_share(minute, looks)
        rpm = diurnal_rpm(minute, base_rpm)
        n_c = rng.poisson(rpm * share, runs)
        n_b = rng.poisson(rpm * (1 - share), runs)
        yield HistogramLook(_cumulative_buckets(rng, n_c, cdf), _cumulative_buckets(rng, n_b, cdf))


def pre_canary_baseline(*, seed: int, minutes: int = 60, rpm: float = 1000.0) -> np.ndarray:
    """One hour of baseline bucket counts before the canary starts (to choose boundaries)."""
    rng = np.random.default_rng(seed)
    return _cumulative_buckets(rng, np.array([int(rpm * minutes)]), bucket_probabilities())[0]


def ar1_gauges(*, runs: int, seed: int, phi: float, looks: int = MINUTES_PER_DAY,
               level: float = 10.0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Canary and baseline gauges whose difference is AR(1) with unit variance, mean 0."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=runs)
    innovation = np.sqrt(1 - phi**2)
    for _ in range(looks):
        yield level + d, np.full(runs, level)
        d = phi * d + innovation * rng.normal(size=runs)


def stepped_gauges(*, runs: int, seed: int, phi: float = 0.5, looks: int = MINUTES_PER_DAY,
                   base_rpm: float = 1000.0, level: float = 10.0,
                   spread: float = 5.0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A per-request gauge (say CPU ms per request) of identical versions under diurnal
    traffic and weight steps: a level that follows the load in both arms, an AR(1) drift
    of its own in each arm, and per-minute noise of sd ``spread / sqrt(requests)``, so
    the canary's readings are noisiest at 5 % and the baseline has none at 100 %."""
    rng = np.random.default_rng(seed)
    drift = rng.normal(size=(2, runs))
    innovation = np.sqrt(1 - phi**2)
    for minute in range(looks):
        share = stepped_share(minute, looks)
        rpm = diurnal_rpm(minute, base_rpm)
        load = level * rpm / base_rpm
        arms = []
        for k, arm_share in enumerate((share, 1 - share)):
            n = rng.poisson(rpm * arm_share, runs)
            with np.errstate(divide="ignore"):
                noise = spread / np.sqrt(n) * rng.normal(size=runs)
            arms.append(np.where(n > 0, load + drift[k] + noise, np.nan))
        yield arms[0], arms[1]
        drift = phi * drift + innovation * rng.normal(size=(2, runs))


def histogram_quantile(q: float, cumulative: np.ndarray, le: np.ndarray = ISTIO_BUCKETS):
    """Prometheus' histogram_quantile (linear within the bucket), per row; NaN when empty."""
    total = cumulative[:, -1]
    rank = q * total
    idx = np.argmax(cumulative >= rank[:, None], axis=1)
    idx = np.minimum(idx, len(le) - 2)  # the +Inf bucket answers with the last finite bound
    upper = le[idx]
    lower = np.where(idx > 0, le[np.maximum(idx - 1, 0)], 0.0)
    below = np.where(idx > 0, cumulative[np.arange(len(total)), np.maximum(idx - 1, 0)], 0.0)
    inside = cumulative[np.arange(len(total)), idx] - below
    with np.errstate(divide="ignore", invalid="ignore"):
        value = lower + (upper - lower) * (rank - below) / inside
    return np.where(total > 0, value, np.nan)
