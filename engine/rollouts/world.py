"""What a rollout acts on: the world outside Auspice, and who hears about it.

The orchestrator is written against a :class:`World` (clusters with labels, a router per
plan, a metrics source, analysis templates, a reverter and a clock) so that the same
driver runs against real spokes, Thanos and a GitOps remote in production, against
test servers in the end-to-end tests, and against the simulated world of ``auspice
demo``. A :data:`Listener` hears every audit entry a rollout writes (a live view, the
demo's operator, notifications); it cannot stop or slow a rollout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auspice.analysis.templates import TemplateResolver
from auspice.clock import Clock
from auspice.metrics.source import MetricsSource
from auspice.rollouts.reverter import Reverter
from auspice.specs.plan import RolloutPlan
from auspice.traffic.clusters import Cluster
from auspice.traffic.router import TrafficRouter

__all__ = ["Listener", "World"]


@dataclass
class World:
    """Everything outside Auspice that a rollout reads or changes."""

    clusters: Sequence[Cluster]
    router_for: Callable[[RolloutPlan], TrafficRouter]
    source: MetricsSource
    templates: TemplateResolver
    reverter: Reverter
    clock: Clock


#: Called with (rollout id, event number, what, details) after every audit entry.
Listener = Callable[[str, int, str, Mapping[str, Any]], None]


