"""A traffic router that keeps weights in memory, for the demo and for tests of callers.

``auspice demo`` has no clusters, yet it should exercise the same orchestrator code
path as production, including drift and a cluster that fails. This router implements
the :class:`~auspice.traffic.router.TrafficRouter` Protocol with the same drift rules
as the Istio router, over a dict, and lets the demo (or a test) change weights behind
its back, make a cluster fail, or add latency on the given clock.
"""

from __future__ import annotations

from collections.abc import Iterable

from auspice.clock import Clock, RealClock
from auspice.traffic.kube import ClusterUnreachableError
from auspice.traffic.router import (
    DriftEvent,
    EventSink,
    SetOutcome,
    VerifyError,
    WeightDriftError,
    Weights,
)


class SimulatedRouter:
    """In-memory weights per cluster; everything starts all-stable."""

    def __init__(
        self,
        clusters: Iterable[str],
        *,
        clock: Clock | None = None,
        latency: float = 0.0,
        on_event: EventSink | None = None,
    ) -> None:
        self.weights: dict[str, Weights] = {name: Weights.all_stable() for name in clusters}
        self.clock = clock or RealClock()
        self.latency = latency
        self.on_event = on_event
        self.down: set[str] = set()
        self.writes: dict[str, int] = dict.fromkeys(self.weights, 0)
        self._last_set: dict[str, Weights] = {}

    def tamper(self, cluster: str, weights: Weights) -> None:
        """Change weights as somebody else would (drift)."""
        self._known(cluster)
        self.weights[cluster] = weights

    def expect(self, cluster: str, weights: Weights | None) -> None:
        """Declare what Auspice last set in ``cluster`` (from the store after a restart)."""
        if weights is None:
            self._last_set.pop(cluster, None)
        else:
            self._last_set[cluster] = weights

    async def get_weights(self, cluster: str) -> Weights:
        await self._round_trip(cluster)
        return self.weights[cluster]

    async def verify(self, cluster: str, weights: Weights) -> None:
        found = await self.get_weights(cluster)
        if found != weights:
            raise VerifyError(f"cluster {cluster!r} (simulated): expected {weights}, found {found}")

    async def set_weights(
        self, cluster: str, weights: Weights, *, force: bool = False
    ) -> SetOutcome:
        previous = await self.get_weights(cluster)
        expected = self._last_set.get(cluster)
        if expected is not None and previous != expected:
            event = DriftEvent(cluster, "simulated route", expected, previous, overwritten=force)
            if self.on_event is not None:
                self.on_event(event)
            if not force:
                raise WeightDriftError(event)
        changed = previous != weights
        if changed:
            await self._round_trip(cluster)
            self.weights[cluster] = weights
            self.writes[cluster] += 1
        self._last_set[cluster] = weights
        return SetOutcome(cluster, weights, previous, changed=changed)

    def _known(self, cluster: str) -> None:
        if cluster not in self.weights:
            raise ClusterUnreachableError(f"cluster {cluster!r} is not simulated")

    async def _round_trip(self, cluster: str) -> None:
        self._known(cluster)
        if self.latency:
            await self.clock.sleep(self.latency)
        if cluster in self.down:
            raise ClusterUnreachableError(f"cluster {cluster!r} (simulated) is down")
