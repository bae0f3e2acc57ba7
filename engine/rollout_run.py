"""What a running rollout needs: the world it acts on, and its in-memory handle.

The orchestrator is written against a :class:`World` (clusters with labels, a router per
plan, a metrics source, analysis templates, a reverter and a clock) so that the same
driver runs against real spokes, Thanos and a GitOps remote in production, against
test servers in the end-to-end tests, and against the simulated world of ``auspice
demo``. :class:`RolloutRun` is the per-rollout handle that lives only in memory: its
driver task, its analyses, the event a manual approval sets. Everything that must
survive a restart is in :mod:`auspice.rollout_store`, never only here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from kubernetes.aio.client import ApiClient
from pydantic import ValidationError

from auspice.analysis import Analysis
from auspice.clock import Clock
from auspice.errors import AuspiceError, ClusterError, ConfigError, GitOpsError
from auspice.gitops import RepoSpec, RevertOutcome, RevertReason, RevertStatus, revert_release
from auspice.gitops.nudge import ControllerNudge
from auspice.metrics.source import MetricsSource
from auspice.plan import RolloutPlan
from auspice.rollout_states import State
from auspice.rollout_store import RolloutStore
from auspice.specs import AnalysisTemplate
from auspice.specs.pydantic_errors import one_line
from auspice.traffic.clusters import Cluster
from auspice.traffic.router import TrafficRouter

log = logging.getLogger("auspice.orchestrator")

__all__ = ["GitReverter", "Listener", "Reverter", "RolloutRun", "World", "library_templates"]


class Reverter(Protocol):
    def check(self, plan: RolloutPlan) -> None:
        """Refuse (ConfigError), when the rollout starts, a release this could not revert."""
        ...

    async def __call__(self, *, plan: RolloutPlan, rollout_id: str,
                       reason: RevertReason) -> RevertOutcome:
        """Revert the plan's release commit (idempotently) and say what was done."""
        ...


@dataclass(frozen=True)
class GitReverter:
    """:func:`auspice.gitops.revert_release` on the plan's repository and branch.

    The plan decides whether a conflicting revert may become a range revert and which
    controllers to nudge; the service decides how to reach the hub cluster for the
    nudge (``hub_client``). A nudge is never worth a revert: a plan that asks for one
    from a service without a hub, or while the hub cannot be reached, still gets its
    revert, and the outcome's ``nudge_error`` says why nothing was nudged.
    """

    cache_dir: Path
    clock: Clock | None = None
    repo_options: Mapping[str, Any] = field(default_factory=dict)  # auth, author, timeout
    max_push_attempts: int = 5
    hub_client: Callable[[], Awaitable[ApiClient]] | None = None

    def check(self, plan: RolloutPlan) -> None:
        self._repo(plan, error=ConfigError)

    async def __call__(self, *, plan: RolloutPlan, rollout_id: str,
                       reason: RevertReason) -> RevertOutcome:
        release, options = plan.spec.release, plan.spec.options
        repo = self._repo(plan, error=GitOpsError)
        nudge, not_nudged = await self._nudge(plan)
        outcome = await revert_release(
            repo=repo, commit=release.sha, reason=reason, rollout_id=rollout_id,
            cache_dir=self.cache_dir, clock=self.clock, max_push_attempts=self.max_push_attempts,
            allow_range_revert=options.range_revert, nudge=nudge)
        if not_nudged and outcome.status is RevertStatus.PUSHED:
            outcome = replace(outcome, nudge_error=not_nudged)
        return outcome

    def _repo(self, plan: RolloutPlan, *, error: type[AuspiceError]) -> RepoSpec:
        """The release's repository with the service's git options, or ``error`` saying
        why that combination cannot work (an https URL with an SSH key, say)."""
        release = plan.spec.release
        try:
            return RepoSpec(url=release.repository, branch=release.branch, **self.repo_options)
        except ValidationError as problem:
            why = one_line(problem, whole="repository")
            raise error(f"the release repository {release.repository} (branch "
                        f"{release.branch}) cannot be reverted with this service's git "
                        f"settings: {why}", hint="check spec.release and rollouts.git") from None

    async def _nudge(self, plan: RolloutPlan) -> tuple[ControllerNudge | None, str | None]:
        """The nudge to send after the push, or why there will be none."""
        targets = plan.spec.options.nudge
        if not targets:
            return None, None
        if self.hub_client is None:
            return None, ("the plan asks for a nudge but this service has no hub cluster "
                          "configured (rollouts.hub)")
        try:
            return ControllerNudge(api_client=await self.hub_client(), targets=targets), None
        except ClusterError as problem:
            return None, f"the hub cluster cannot be reached to nudge: {problem}"


def library_templates(extra: Mapping[str, AnalysisTemplate] | None = None
                      ) -> Callable[[str], AnalysisTemplate]:
    """A resolver: templates given by name first, then the library (``auspice.analyses``)."""
    given = dict(extra or {})

    def resolve(name: str) -> AnalysisTemplate:
        if name in given:
            return given[name]
        from auspice import analyses

        try:
            return analyses.load(name)
        except KeyError:
            known = ", ".join(sorted({*given, *analyses.names()}))
            raise ConfigError(f"analysis template {name!r} is unknown",
                              hint=f"use one of: {known}") from None

    return resolve


@dataclass
class World:
    """Everything outside Auspice that a rollout reads or changes."""

    clusters: Sequence[Cluster]
    router_for: Callable[[RolloutPlan], TrafficRouter]
    source: MetricsSource
    templates: Callable[[str], AnalysisTemplate]
    reverter: Reverter
    clock: Clock


#: Called with (rollout id, event number, what, details) after every audit entry.
Listener = Callable[[str, int, str, Mapping[str, Any]], None]


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

