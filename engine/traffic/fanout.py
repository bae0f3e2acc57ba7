"""Setting weights in many clusters at once, one result per cluster.

An abort over fifty clusters must take about one cluster's round trip, not fifty, and
one cluster that is down, slow or rejecting our token must not keep the other
forty-nine on the canary. So every cluster runs concurrently under its own timeout,
every failure is caught and turned into that cluster's result with the reason, and
the caller gets a :class:`FanoutReport` in the order of the clusters it asked for.
Cancelling the fan-out itself (a second abort, shutdown) still cancels everything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from auspice.errors import AuspiceError
from auspice.traffic.router import SetOutcome, TrafficRouter, Weights

log = logging.getLogger("auspice.traffic.fanout")


class Status(StrEnum):
    OK = "ok"
    CONFLICT_RETRIED = "conflict-retried"  # succeeded after one or more 409s
    FAILED = "failed"


@dataclass(frozen=True)
class ClusterResult:
    cluster: str
    status: Status
    seconds: float
    outcome: SetOutcome | None = None
    reason: str | None = None  # why it failed, naming the cluster and what to do
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.status is not Status.FAILED


@dataclass(frozen=True)
class FanoutReport:
    weights: Weights
    results: tuple[ClusterResult, ...]
    seconds: float

    @property
    def succeeded(self) -> list[str]:
        return [r.cluster for r in self.results if r.ok]

    @property
    def failed(self) -> list[ClusterResult]:
        return [r for r in self.results if not r.ok]

    @property
    def all_ok(self) -> bool:
        return not self.failed

    def by_cluster(self) -> dict[str, ClusterResult]:
        return {r.cluster: r for r in self.results}

    def summary(self) -> str:
        lines = [f"set {self.weights} in {len(self.results)} clusters in {self.seconds:.2f}s"]
        for result in self.results:
            detail = f": {result.reason}" if result.reason else ""
            lines.append(f"  {result.cluster}: {result.status.value}{detail}")
        return "\n".join(lines)


async def _one(
    cluster: str, action: Callable[[str], Awaitable[SetOutcome]], limit: float
) -> ClusterResult:
    started = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            outcome = await action(cluster)
    except TimeoutError as error:
        reason = f"cluster {cluster!r}: no result within the {limit:g}s per-cluster timeout"
        return ClusterResult(
            cluster, Status.FAILED, time.monotonic() - started, None, reason, error
        )
    except AuspiceError as error:
        return ClusterResult(
            cluster, Status.FAILED, time.monotonic() - started, None, str(error), error
        )
    except Exception as error:  # a bug or an unexpected client error: still only this cluster
        log.exception("unexpected error setting weights in cluster %r", cluster)
        reason = f"cluster {cluster!r}: unexpected {type(error).__name__}: {error}"
        return ClusterResult(
            cluster, Status.FAILED, time.monotonic() - started, None, reason, error
        )
    status = Status.CONFLICT_RETRIED if outcome.conflicts else Status.OK
    return ClusterResult(cluster, status, time.monotonic() - started, outcome)


async def set_weights_everywhere(
    router: TrafficRouter,
    clusters: Sequence[str],
    weights: Weights,
    *,
    per_cluster_timeout: float = 15.0,
    force: bool = False,
) -> FanoutReport:
    """Set ``weights`` in every cluster concurrently; never raises for one cluster's failure.

    ``per_cluster_timeout`` bounds each cluster's whole read-write-verify, 409 retries
    included.
    ``force`` overwrites drifted weights (reporting the drift), as a rollback should.
    """
    if len(set(clusters)) != len(clusters):
        raise ValueError("clusters must be distinct")
    started = time.monotonic()

    async def action(cluster: str) -> SetOutcome:
        return await router.set_weights(cluster, weights, force=force)

    runs = (_one(cluster, action, per_cluster_timeout) for cluster in clusters)
    results = await asyncio.gather(*runs)
    report = FanoutReport(weights, tuple(results), time.monotonic() - started)
    for failure in report.failed:
        log.warning("%s", failure.reason)
    return report
