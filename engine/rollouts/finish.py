"""Ending a failed or aborted rollout: traffic back first, then the commit, then the record.

Order matters. Pulling traffic back is what protects users, so it comes first, in every
cluster this rollout ever wrote to, concurrently (one cluster's round trip, not the
sum), with ``force`` so that drifted weights are overwritten (and reported). Only then
is the release commit reverted, so that the GitOps controller does not bring the
canary back. Both steps are idempotent: a second rollback writes nothing where the
weights are already 0, and the revert is skipped when the store already holds its
outcome, and otherwise :func:`~auspice.gitops.revert_release` finds an earlier revert
on the branch (a crash between push and record): never a second revert commit.

A cluster that cannot be reached does not hold up the others or the revert: it is
reported by name in the rollback's result, kept in ``pending_rollback``, and retried
with backoff until it answers (across restarts, because the list is stored). A revert
that fails (a push refused by a hook, a conflict) is retried ``revert_attempts`` times
with backoff; if it still fails the rollout ends FAILED/ABORTED with the error in its
outcome, saying that a person must act, while the traffic rollback stands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from auspice.errors import GitOpsError
from auspice.gitops import RevertReason
from auspice.rollouts.cluster_states import ClusterStatus
from auspice.rollouts.results import RevertResult, RollbackResult
from auspice.rollouts.reverter import Reverter
from auspice.rollouts.run import RolloutRun
from auspice.traffic.fanout import set_weights_everywhere
from auspice.traffic.router import Weights

__all__ = ["FinishSettings", "retry_pending", "revert", "rollback"]


@dataclass(frozen=True)
class FinishSettings:
    per_cluster_timeout: float = 15.0
    revert_attempts: int = 3
    revert_backoff: float = 5.0
    retry_backoff: float = 5.0
    retry_backoff_cap: float = 120.0


async def rollback(run: RolloutRun, clusters: Sequence[str], settings: FinishSettings,
                   *, what: str = "rollback",
                   status: ClusterStatus = ClusterStatus.ROLLED_BACK) -> RollbackResult:
    """Canary weight 0 in ``clusters`` at once; records the per-cluster result."""
    report = await set_weights_everywhere(run.router, list(clusters), Weights.all_stable(),
                                          per_cluster_timeout=settings.per_cluster_timeout,
                                          force=True)
    result = RollbackResult.from_report(report)
    done: Mapping[str, Mapping[str, object]] = {
        cluster: {"weight": 0, "status": status} for cluster in result.rolled_back}
    await run.record(what, details=result.to_dict(),
                     fields={"pending_rollback": result.unreachable}, clusters=done)
    return result


async def revert(run: RolloutRun, reverter: Reverter, settings: FinishSettings, *,
                 reason: RevertReason, previous: RevertResult | None) -> RevertResult:
    """The revert's result as stored; never calls the reverter after a recorded success."""
    if not run.plan.spec.options.revert:
        return RevertResult.skipped("the plan says revert: false")
    if previous is not None and previous.status.done:
        return previous
    error: GitOpsError | None = None
    for attempt in range(1, settings.revert_attempts + 1):
        await run.record("revert.started", details={"attempt": attempt,
                                                    "commit": run.plan.spec.release.sha})
        try:
            return RevertResult.of(await reverter(plan=run.plan, rollout_id=run.id,
                                                  reason=reason))
        except GitOpsError as failure:
            error = failure
            await run.record("revert.attempt_failed", details={
                "attempt": attempt, "error": str(failure), "type": type(failure).__name__})
            if attempt < settings.revert_attempts:
                await run.clock.sleep(settings.revert_backoff * attempt)
    return RevertResult.failed(error)


async def retry_pending(run: RolloutRun, settings: FinishSettings) -> None:
    """Keep rolling back the clusters that did not answer until every one has."""
    delay = settings.retry_backoff
    while True:
        record = await run.store.get(run.id)
        if record is None or not record.pending_rollback:
            return
        await run.clock.sleep(delay)
        result = await rollback(run, record.pending_rollback, settings, what="rollback.retry")
        if not result.unreachable:
            return
        delay = min(delay * 2, settings.retry_backoff_cap)
