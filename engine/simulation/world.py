"""A simulated world for rollouts: traffic that follows the weights the orchestrator sets.

``auspice demo`` and the orchestrator's tests need what production has: a router that
moves traffic and metrics that react to it. :class:`WeightedRouter` is the in-memory
:class:`~auspice.simulation.router.SimulatedRouter` that also remembers *when* each
cluster's weights changed; :class:`SimulatedSource` is a
:class:`~auspice.metrics.source.MetricsSource` that answers the two queries of
:data:`DEMO_TEMPLATE` (requests and 5xx responses per cluster and version, increased
over one interval) from those weights: each minute a cluster serves ``rpm`` requests,
split by the canary weight in effect, with errors at each version's rate.

Looks are recomputed from the start every time, so the numbers must not change
between two calls: every point is drawn from a generator seeded by (seed, cluster,
version, minute). A regression is a canary version with a worse error rate in some
clusters (``regressed_in``), which is how a release that is fine in staging breaks in
one production region. ``down`` makes the source fail like a dead Prometheus.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from auspice.clock import Clock
from auspice.errors import SourceError
from auspice.metrics.source import NoDataError, Series
from auspice.simulation.router import SimulatedRouter
from auspice.traffic.router import SetOutcome, Weights

__all__ = ["DEMO_TEMPLATE", "SimulatedSource", "WeightedRouter", "WorldVersions"]

#: An AnalysisTemplate over the simulated metrics: the 5xx share, canary vs baseline.
DEMO_TEMPLATE = """\
apiVersion: auspice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: demo-error-rate
spec:
  description: Share of 5xx responses of the simulated service, canary against baseline.
  alpha: 0.05
  interval: 1m
  minDuration: 5m
  maxDuration: 2h
  metrics:
    - name: error-rate
      description: 5xx share; FAIL when the canary's exceeds 1.5 x the baseline's.
      kind: counts
      critical: true
      tolerance: 1.5
      events: >-
        sum(increase(sim_errors_total{cluster="{{cluster}}",version="{{version}}"}[{{interval}}]))
      total: >-
        sum(increase(sim_requests_total{cluster="{{cluster}}",version="{{version}}"}[{{interval}}]))
"""

_QUERY = re.compile(r"(sim_errors_total|sim_requests_total)\{cluster=\"([^\"]+)\", ?"
                    r"version=\"([^\"]+)\"\}")


class WeightedRouter(SimulatedRouter):
    """A :class:`SimulatedRouter` that keeps each cluster's weight history."""

    def __init__(self, clusters: Iterable[str], *, clock: Clock, latency: float = 0.0) -> None:
        names = list(clusters)
        super().__init__(names, clock=clock, latency=latency)
        self.history: dict[str, list[tuple[float, int]]] = {n: [(float("-inf"), 0)]
                                                            for n in names}

    async def set_weights(self, cluster: str, weights: Weights, *,
                          force: bool = False) -> SetOutcome:
        outcome = await super().set_weights(cluster, weights, force=force)
        if outcome.changed:
            self.history[cluster].append((self.clock.now(), weights.canary))
        return outcome

    def canary_weight_at(self, cluster: str, moment: float) -> int:
        changes = self.history[cluster]
        index = bisect.bisect_right([t for t, _ in changes], moment) - 1
        return changes[max(index, 0)][1]


@dataclass
class WorldVersions:
    """Error rates: the baseline's, the canary's, and the canary's where it regressed."""

    canary: str = "v2"
    baseline: str = "v1"
    error_rate: float = 0.01
    regressed_error_rate: float = 0.05
    regressed_in: set[str] = field(default_factory=set)


class SimulatedSource:
    """Answers the demo template's queries from the router's weight history."""

    def __init__(self, router: WeightedRouter, versions: WorldVersions, *, rpm: float = 3000.0,
                 seed: int = 0) -> None:
        self.router, self.versions, self.rpm, self.seed = router, versions, rpm, seed
        self.down = False
        self.queries = 0
        self.server = "simulated Prometheus"

    async def close(self) -> None:
        """Nothing to release: the numbers are computed."""

    async def query_range(self, promql: str, start: float, end: float,
                          step: float) -> list[Series]:
        self.queries += 1
        if self.down:
            raise SourceError(f"simulated Prometheus is down (query {promql[:60]!r}...)",
                              hint="wait for it to come back")
        match = _QUERY.search(promql)
        if match is None:
            raise NoDataError(query=promql, server="simulated")
        metric, cluster, version = match.groups()
        if cluster not in self.router.history or version not in (self.versions.canary,
                                                                 self.versions.baseline):
            raise NoDataError(query=promql, server="simulated")
        times = np.arange(start, end + step * 1e-6, step)
        values = np.array([self._point(metric, cluster, version, t, step) for t in times])
        return [Series({"cluster": cluster, "version": version}, times, values)]

    def _point(self, metric: str, cluster: str, version: str, end: float, step: float) -> float:
        weight = self.router.canary_weight_at(cluster, end - step / 2)
        share = weight / 100 if version == self.versions.canary else 1 - weight / 100
        rng = np.random.default_rng(_seed(self.seed, cluster, version, round(end)))
        requests = float(rng.poisson(self.rpm * step / 60.0 * share))
        if metric == "sim_requests_total":
            return requests
        return float(rng.binomial(int(requests), self._error_rate(cluster, version)))

    def _error_rate(self, cluster: str, version: str) -> float:
        v = self.versions
        if version == v.canary and cluster in v.regressed_in:
            return v.regressed_error_rate
        return v.error_rate


def _seed(*parts: object) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")
