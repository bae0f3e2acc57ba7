"""Reverting the release commit of a failed rollout: the interface and its Git version.

The orchestrator asks a :class:`Reverter` two things: when a rollout starts, whether its
release could be reverted at all with this service's settings (so a plan that could
never be undone is refused before any traffic moves), and after a rollback, to revert
the release commit. :class:`GitReverter` does it with :func:`auspice.gitops.revert_release`
on the plan's repository and branch; tests and the demo use it on local repositories.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from kubernetes.aio.client import ApiClient
from pydantic import ValidationError

from auspice.clock import Clock
from auspice.errors import AuspiceError, ClusterError, ConfigError, GitOpsError, one_line
from auspice.gitops import RepoSpec, RevertOutcome, RevertReason, RevertStatus, revert_release
from auspice.gitops.nudge import ControllerNudge
from auspice.specs.plan import RolloutPlan

__all__ = ["GitReverter", "Reverter"]

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


