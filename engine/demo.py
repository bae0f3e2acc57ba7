"""``auspice demo --judges-only``: one canary against its baseline, judged look by look.

``auspice demo`` itself tells the whole multi-cluster story (:mod:`auspice.rollout_demo`)
and judges one metric, the error rate, in each cluster. This demo is the close-up kept
from before the orchestrator existed: three judges on one canary, with every look's
e-values, effects and intervals, on a virtual clock.

Two releases of a simulated service go through the same canary: a healthy one, and one
whose error rate doubles and whose median latency grows by a tenth. The canary's weight steps
10 -> 25 -> 50 percent; every simulated minute the three judges (error rate, latency
histogram, CPU per request) look at the numbers, and the verdict is printed as the
evidence grows, with the e-values against their thresholds and the look at which the
verdict fired. The clock is virtual, so 90 minutes of canary take well under a second.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

from auspice.clock import VirtualClock
from auspice.metrics.synthetic import SyntheticService, Version
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
    """The judges of one canary and the state the demo prints."""

    service: SyntheticService
    clock: VirtualClock
    print_line: Callable[[str], None]
    json_lines: bool = False

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

    def weight(self, elapsed: float) -> int:
        return [w for since, w in WEIGHTS if elapsed >= since][-1]

    def look(self) -> Verdict:
        elapsed = self.clock.now() - self.start
        canary, baseline = self.service.look(canary_weight=self.weight(elapsed))
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

    async def run(self) -> Verdict:
        while True:
            await self.clock.sleep(INTERVAL)
            verdict = self.look()
            self.show(verdict)
            if verdict.decision in (Decision.PASS, Decision.FAIL):
                return verdict

    def show(self, verdict: Verdict) -> None:
        minute = round(verdict.elapsed / 60)
        if self.json_lines:
            self.print_line(json.dumps({"minute": minute, **verdict.to_dict()}))
            return
        final = verdict.decision in (Decision.PASS, Decision.FAIL)
        if minute % 5 and not final:
            return
        cells = []
        for m in verdict.metrics:
            r = m.result
            cells.append(f"{m.policy.name} E {r.e_value:8.3g}/{1 / m.alpha:<3.0f} "
                         f"{r.estimate:4.2f} [{r.lower:4.2f},{r.upper:4.2f}]")
        weight = self.weight(verdict.elapsed)
        self.print_line(f"  t+{minute:3d}m w={weight:2d}%  {verdict.decision.value:8s} "
                        + " | ".join(cells))
        if final:
            self.print_line(f"  -> {verdict.decision.value.upper()} at minute {minute}: "
                            f"{verdict.reason}")


async def run_release(name: str, *, seed: int, print_line: Callable[[str], None],
                      json_lines: bool = False) -> Verdict:
    service = SyntheticService(baseline=Version(), canary=RELEASES[name], seed=seed)
    canary = DemoCanary(service, VirtualClock(start=0.0), print_line, json_lines)
    if not json_lines:
        print_line(f"release '{name}': canary weight 10% -> 25% at 20m -> 50% at 45m; "
                   f"looks every minute, alpha {ALPHA} shared as "
                   + ", ".join(f"{k} {v:.3g}" for k, v in canary.alphas.items()))
    return await canary.run()


def main(*, seed: int = 7, json_lines: bool = False, print_line=print) -> int:
    """Run both releases; exit status 0 when the healthy one passed and the regression failed."""
    verdicts = {name: asyncio.run(run_release(name, seed=seed, print_line=print_line,
                                              json_lines=json_lines))
                for name in RELEASES}
    ok = (verdicts["healthy"].decision is Decision.PASS
          and verdicts["regressed"].decision is Decision.FAIL)
    if not json_lines:
        print_line("summary: " + ", ".join(f"{n} -> {v.decision.value} at minute "
                                           f"{round(v.elapsed / 60)}" for n, v in verdicts.items()))
    return 0 if ok else 1
