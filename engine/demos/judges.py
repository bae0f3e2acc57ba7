"""``auspice demo --judges-only``: one canary against its baseline, judged look by look.

``auspice demo`` itself tells the whole multi-cluster story (:mod:`auspice.demos.rollout`)
and judges one metric, the error rate, in each cluster. This demo is the close-up kept
from before the orchestrator existed: three judges on one canary, with every look's
e-values, effects and intervals, on a virtual clock.

Two releases of a simulated service go through the same canary: a healthy one, and one
whose error rate doubles and whose median latency grows by a tenth. The canary's weight
steps 10 -> 25 -> 50 percent; every simulated minute the three judges (error rate,
latency histogram, CPU per request) look at the numbers, and each verdict goes to the
caller as the evidence grows (``auspice demo`` prints them, :mod:`auspice.cli.demo`),
with the e-values against their thresholds and the look at which the verdict fired. The
clock is virtual, so 90 minutes of canary take well under a second."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from auspice.clock import VirtualClock
from auspice.simulation.synthetic import SyntheticService, Version
from auspice.stats import (
    CountTest,
    Decision,
    GaugeTest,
    HistogramTest,
    MetricEvidence,
    MetricPolicy,
    Verdict,
    choose_boundaries,
    decide,
    share_alpha,
)

ALPHA = 0.05
INTERVAL = 60.0
MIN_DURATION = 20 * 60.0
MAX_DURATION = 90 * 60.0
WEIGHTS = ((0.0, 10), (20 * 60.0, 25), (45 * 60.0, 50))  # (from second, canary percent)
POLICIES = (
    MetricPolicy("error-rate", weight=2.0, critical=True, no_data_limit=5, tolerance=1.2),
    MetricPolicy("latency", weight=2.0, critical=True, no_data_limit=5, tolerance=1.2),
    MetricPolicy("cpu-per-request", weight=1.0, critical=False, no_data_limit=5),
)
RELEASES = {
    "healthy": Version(),
    "regressed": Version(error_rate=0.010, latency_median_ms=44.0),
}


@dataclass
class DemoCanary:
    """The judges of one canary, looking once a virtual minute until a verdict."""

    service: SyntheticService
    clock: VirtualClock

    def __post_init__(self) -> None:
        alphas = share_alpha(ALPHA, POLICIES)
        self.alphas = alphas
        boundaries = choose_boundaries(le=self.service.le,
                                       baseline_buckets=self.service.pre_canary_buckets())
        self.tests = {
            "error-rate": CountTest(alpha=alphas["error-rate"]),
            "latency": HistogramTest(boundaries=boundaries, alpha=alphas["latency"]),
            "cpu-per-request": GaugeTest(alpha=alphas["cpu-per-request"], compare="log_ratio",
                                         margin=0.1, batch=10),
        }
        self.start = self.clock.now()

    def look(self) -> Verdict:
        elapsed = self.clock.now() - self.start
        canary, baseline = self.service.look(canary_weight=weight_at(elapsed))
        results = {
            "error-rate": self.tests["error-rate"].update(
                canary_events=canary.errors, canary_total=canary.requests,
                baseline_events=baseline.errors, baseline_total=baseline.requests),
            "latency": self.tests["latency"].update(
                le=self.service.le, canary_buckets=canary.buckets,
                baseline_buckets=baseline.buckets),
            "cpu-per-request": self.tests["cpu-per-request"].update(
                canary=canary.cpu_ms_per_request, baseline=baseline.cpu_ms_per_request),
        }
        evidence = [MetricEvidence(policy=p, alpha=self.alphas[p.name], result=results[p.name])
                    for p in POLICIES]
        return decide(evidence, elapsed=elapsed, min_duration=MIN_DURATION,
                      max_duration=MAX_DURATION)

    async def run(self, on_look: Callable[[Verdict], None]) -> Verdict:
        """Look every interval, telling ``on_look`` each verdict, until PASS or FAIL."""
        while True:
            await self.clock.sleep(INTERVAL)
            verdict = self.look()
            on_look(verdict)
            if verdict.decision in (Decision.PASS, Decision.FAIL):
                return verdict


def weight_at(elapsed: float) -> int:
    """The canary's weight ``elapsed`` seconds into the canary."""
    return [w for since, w in WEIGHTS if elapsed >= since][-1]


def canary_for(name: str, *, seed: int) -> DemoCanary:
    """The canary of release ``name`` (``healthy`` or ``regressed``) on a new clock."""
    service = SyntheticService(baseline=Version(), canary=RELEASES[name], seed=seed)
    return DemoCanary(service, VirtualClock(start=0.0))


def as_expected(verdicts: dict[str, Verdict]) -> bool:
    """The healthy release passed and the regressed one failed."""
    return (verdicts["healthy"].decision is Decision.PASS
            and verdicts["regressed"].decision is Decision.FAIL)
