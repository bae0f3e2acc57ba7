"""A simulated service: the numbers a canary and its baseline would show, minute by minute.

The demo and the tests need traffic without a cluster: requests split by the canary
weight, errors at each version's rate, latencies from each version's lognormal
distribution counted into Istio's default histogram buckets, and a CPU gauge with
autocorrelated noise. A regression is just a version whose parameters are worse.
Everything comes from one seeded generator, so a run is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

#: Istio's default buckets for istio_request_duration_milliseconds (ms).
ISTIO_LATENCY_BUCKETS = (
    0.5,
    1,
    5,
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    5000,
    10000,
    30000,
    60000,
    300000,
    600000,
    1800000,
    3600000,
    float("inf"),
)


@dataclass(frozen=True)
class Version:
    """How one version behaves: error rate, median latency (ms), CPU ms per request."""

    error_rate: float = 0.005
    latency_median_ms: float = 40.0
    latency_sigma: float = 0.6
    cpu_ms_per_request: float = 2.0


@dataclass(frozen=True)
class ArmLook:
    """One version's numbers over one look."""

    requests: float
    errors: float
    buckets: np.ndarray  # cumulative counts per ISTIO_LATENCY_BUCKETS
    cpu_ms_per_request: float


class SyntheticService:
    """A service whose traffic is split between a baseline and a canary version."""

    def __init__(
        self, *, baseline: Version, canary: Version, rpm: float = 2000.0, seed: int = 0
    ) -> None:
        self.baseline, self.canary, self.rpm = baseline, canary, rpm
        self._rng = np.random.default_rng(seed)
        self._cpu_noise = {"canary": 0.0, "baseline": 0.0}
        self.le = np.array(ISTIO_LATENCY_BUCKETS)

    def look(self, *, canary_weight: float) -> tuple[ArmLook, ArmLook]:
        """One minute of traffic at ``canary_weight`` percent: (canary, baseline)."""
        share = canary_weight / 100.0
        return (
            self._arm("canary", self.canary, self.rpm * share),
            self._arm("baseline", self.baseline, self.rpm * (1.0 - share)),
        )

    def pre_canary_buckets(self, *, minutes: int = 60) -> np.ndarray:
        """Baseline bucket counts for the window before the canary starts."""
        return self._buckets(self.baseline, self.rpm * minutes)

    def _arm(self, name: str, version: Version, rate: float) -> ArmLook:
        requests = float(self._rng.poisson(rate))
        errors = float(self._rng.binomial(int(requests), version.error_rate))
        noise = 0.8 * self._cpu_noise[name] + 0.6 * self._rng.normal() * 0.1
        self._cpu_noise[name] = noise
        cpu = version.cpu_ms_per_request * (1.0 + noise)
        return ArmLook(requests, errors, self._buckets(version, requests), cpu)

    def _buckets(self, version: Version, requests: float) -> np.ndarray:
        cdf = norm.cdf(
            (np.log(self.le) - np.log(version.latency_median_ms)) / version.latency_sigma
        )
        cells = np.diff(np.concatenate([[0.0], cdf]))
        counts = self._rng.multinomial(int(requests), cells / cells.sum())
        return np.cumsum(counts).astype(float)
