"""A running rollout's in-memory handle, and the one way its driver writes.

:class:`RolloutRun` lives only in memory: the driver task, the rollout's analyses, the
event a manual approval sets, the lock an abort takes. Everything that must survive a
restart is in :mod:`auspice.rollouts.store`, never only here, and every change goes
through :meth:`RolloutRun.record`: the store writes the change with its audit entry,
then the listeners hear of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auspice.analysis import Analysis
from auspice.clock import Clock
from auspice.metrics.source import MetricsSource
from auspice.rollouts.states import State
from auspice.rollouts.store import RolloutStore
from auspice.rollouts.world import Listener
from auspice.specs.plan import RolloutPlan
from auspice.traffic.router import TrafficRouter

log = logging.getLogger("auspice.rollouts")

__all__ = ["RolloutRun"]


@dataclass
class RolloutRun:
    """One rollout's in-memory handle (rebuilt from the store after a restart)."""

    id: str
    plan: RolloutPlan
    router: TrafficRouter
    store: RolloutStore
    clock: Clock
    source: MetricsSource
    listeners: Sequence[Listener] = ()
    task: asyncio.Task[None] | None = None
    advancing: bool = False  # True while the driver may be cancelled by an abort
    approved: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)  # a final state is recorded
    analyses: dict[tuple[str, str], Analysis] = field(default_factory=dict)
    abort_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def record(self, what: str, *, who: str = "auspice",
                     details: Mapping[str, Any] | None = None,
                     fields: Mapping[str, Any] | None = None,
                     clusters: Mapping[str, Mapping[str, Any]] | None = None,
                     expect_state: State | None = None) -> int:
        """Write ``fields``/``clusters`` and one audit entry atomically, then tell listeners
        (:class:`~auspice.rollout_store.StaleState` if ``expect_state`` no longer holds)."""
        details = dict(details or {})
        n = await self.store.record(self.id, at=self.clock.now(), who=who, what=what,
                                    details=details, fields=fields, clusters=clusters,
                                    expect_state=expect_state)
        for listener in self.listeners:
            try:
                listener(self.id, n, what, details)
            except Exception:  # a broken view must not stop a rollout (or an abort)
                log.exception("rollout %s: listener %r failed on %s", self.id, listener, what)
        return n

