"""Fan-out semantics and the simulated router, without any server."""

from __future__ import annotations

import asyncio

import pytest

from auspice.clock import VirtualClock
from auspice.errors import InputError
from auspice.simulation.router import SimulatedRouter
from auspice.traffic.fanout import Status, set_weights_everywhere
from auspice.traffic.router import (
    DriftEvent,
    SetOutcome,
    TrafficRouter,
    WeightDriftError,
    Weights,
)


@pytest.mark.parametrize(
    ("canary", "stable"), [(10, 80), (-1, 101), (101, -1), (True, 99), (50.0, 50)]
)
def test_weights_must_be_integers_summing_to_100(canary: object, stable: object) -> None:
    with pytest.raises(InputError):
        Weights(canary=canary, stable=stable)  # type: ignore[arg-type]


def test_weights_helpers() -> None:
    assert Weights.canary_percent(30) == Weights(canary=30, stable=70)
    assert str(Weights.all_stable()) == "canary=0 stable=100"


async def test_simulated_router_moves_weights_reports_drift_and_fails_when_down() -> None:
    events: list[DriftEvent] = []
    router = SimulatedRouter(
        ["a", "b", "c"], clock=VirtualClock(), latency=0.05, on_event=events.append
    )
    assert isinstance(router, TrafficRouter)
    router.down.add("c")
    report = await set_weights_everywhere(router, ["a", "b", "c"], Weights.canary_percent(10))
    assert [r.status for r in report.results] == [Status.OK, Status.OK, Status.FAILED]
    assert "cluster 'c' (simulated) is down" in report.results[2].reason
    assert router.weights["a"] == Weights.canary_percent(10)
    router.tamper("b", Weights.canary_percent(50))
    with pytest.raises(WeightDriftError):
        await router.set_weights("b", Weights.canary_percent(20))
    assert events[-1].found == Weights.canary_percent(50) and not events[-1].overwritten
    await router.set_weights("b", Weights.all_stable(), force=True)
    assert events[-1].overwritten and router.weights["b"] == Weights.all_stable()
    await router.verify("a", Weights.canary_percent(10))


class Exploding:
    """A router with a bug in one cluster: the fan-out still returns every result."""

    async def get_weights(self, cluster: str) -> Weights:
        return Weights.all_stable()

    async def verify(self, cluster: str, weights: Weights) -> None:
        return None

    async def set_weights(
        self, cluster: str, weights: Weights, *, force: bool = False
    ) -> SetOutcome:
        if cluster == "bug":
            raise KeyError("oops")
        if cluster == "hang":
            await asyncio.sleep(30)
        return SetOutcome(cluster, weights, Weights.all_stable())


async def test_unexpected_errors_and_hangs_stay_in_their_cluster() -> None:
    report = await set_weights_everywhere(
        Exploding(), ["ok", "bug", "hang"], Weights.canary_percent(5), per_cluster_timeout=0.2
    )
    assert [r.cluster for r in report.results] == ["ok", "bug", "hang"]
    assert report.succeeded == ["ok"]
    assert "unexpected KeyError" in report.by_cluster()["bug"].reason
    assert "0.2s per-cluster timeout" in report.by_cluster()["hang"].reason
    assert "ok: ok" in report.summary()


async def test_cancelling_the_fanout_cancels_every_cluster() -> None:
    task = asyncio.ensure_future(
        set_weights_everywhere(Exploding(), ["hang", "ok"], Weights.canary_percent(5))
    )
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_duplicate_clusters_are_refused() -> None:
    with pytest.raises(ValueError, match="distinct"):
        await set_weights_everywhere(Exploding(), ["a", "a"], Weights.all_stable())
