"""The small interface every traffic router implements, and its value types.

Callers (the orchestrator, abort, the demo) only ever ask four things of a router, for
one cluster at a time: what are the weights, set them, check they are what we think, and
(after a restart) remember what Auspice last set there. Istio VirtualServices are the
first implementation; a Gateway API HTTPRoute or SMI TrafficSplit router can be added
later without touching a caller, as in Flagger's router interface. Fan-out over many
clusters (:mod:`.fanout`) is built on this Protocol only.

Drift is part of the interface because it is part of the contract: a router remembers
what it last set in each cluster and, when it finds something else, reports a
:class:`DriftEvent` and refuses to overwrite it unless told to (``force=True``, which a
rollback uses, still reports the event). Auspice never silently fights another writer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from auspice.errors import ClusterError, InputError


@dataclass(frozen=True, order=True)
class Weights:
    """Percent of traffic to the canary and to the stable version (integers, sum 100)."""

    canary: int
    stable: int

    def __post_init__(self) -> None:
        for name in ("canary", "stable"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise InputError(f"{name} weight must be an integer 0..100, got {value!r}")
        if self.canary + self.stable != 100:
            raise InputError(
                f"weights must sum to 100, got canary={self.canary} + stable={self.stable}"
            )

    @classmethod
    def canary_percent(cls, percent: int) -> Weights:
        """``Weights.canary_percent(10)`` is canary 10, stable 90."""
        return cls(canary=percent, stable=100 - percent)

    @classmethod
    def all_stable(cls) -> Weights:
        return cls(canary=0, stable=100)

    def __str__(self) -> str:
        return f"canary={self.canary} stable={self.stable}"


@dataclass(frozen=True)
class DriftEvent:
    """Weights found in a cluster differ from the ones Auspice last set there."""

    cluster: str
    location: str  # e.g. "namespace shop, VirtualService checkout, route primary"
    expected: Weights
    found: Weights
    overwritten: bool  # True when the write went ahead anyway (force, e.g. rollback)

    def __str__(self) -> str:
        action = "overwritten" if self.overwritten else "left in place"
        return (
            f"weight drift in cluster {self.cluster!r}, {self.location}: Auspice last set "
            f"{self.expected} but found {self.found} ({action})"
        )


EventSink = Callable[[DriftEvent], None]


@dataclass(frozen=True)
class SetOutcome:
    """What one successful ``set_weights`` did in one cluster."""

    cluster: str
    weights: Weights
    previous: Weights | None  # None when the routes disagreed or held no valid pair
    conflicts: int = 0  # 409s that were re-read and retried
    changed: bool = True  # False when the weights were already the requested ones
    resource_version: str | None = None


class WeightDriftError(ClusterError):
    """The weights were changed by someone else; Auspice did not overwrite them."""

    def __init__(self, event: DriftEvent) -> None:
        super().__init__(
            str(event),
            hint="find who changed them (GitOps self-heal without ignoreDifferences, a person) "
            "and either restore the weights or abort with force",
        )
        self.event = event


class VerifyError(ClusterError):
    """The weights read back after a write are not the ones written."""


@runtime_checkable
class TrafficRouter(Protocol):
    """Moves traffic between the stable and canary versions of one service, per cluster."""

    async def get_weights(self, cluster: str) -> Weights:
        """The weights currently in effect in ``cluster``."""

    async def set_weights(
        self, cluster: str, weights: Weights, *, force: bool = False
    ) -> SetOutcome:
        """Set ``weights`` in ``cluster``; refuse on drift unless ``force``."""

    async def verify(self, cluster: str, weights: Weights) -> None:
        """Raise :class:`VerifyError` unless ``cluster`` has exactly ``weights``."""

    def expect(self, cluster: str, weights: Weights | None) -> None:
        """Take ``weights`` as what Auspice last set in ``cluster`` (the store's record,
        after a restart), so drift is judged against it; None forgets it."""
