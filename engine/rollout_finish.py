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

import logging
from dataclasses import dataclass
from typing import Any

from auspice.errors import GitOpsError
from auspice.gitops import RevertReason
from auspice.rollout_run import Reverter, RolloutRun
from auspice.traffic.fanout import FanoutReport, set_weights_everywhere
from auspice.traffic.router import Weights

log = logging.getLogger("auspice.orchestrator")


@dataclass(frozen=True)
class FinishSettings:
    per_cluster_timeout: float = 15.0
    revert_attempts: int = 3
    revert_backoff: float = 5.0
    retry_backoff: float = 5.0
    retry_backoff_cap: float = 120.0


def rollback_details(report: FanoutReport) -> dict[str, Any]:
    return {"clusters": {r.cluster: {"status": r.status.value, "reason": r.reason,
                                     "seconds": round(r.seconds, 4)} for r in report.results},
            "unreachable": [r.cluster for r in report.failed],
            "seconds": round(report.seconds, 4)}


async def rollback(run: RolloutRun, clusters: list[str], settings: FinishSettings,
                   *, what: str = "rollback", status: str = "rolled_back") -> FanoutReport:
    """Canary weight 0 in ``clusters`` at once; records the per-cluster result."""
    report = await set_weights_everywhere(run.router, clusters, Weights.all_stable(),
                                          per_cluster_timeout=settings.per_cluster_timeout,
                                          force=True)
    done = {r.cluster: {"weight": 0, "status": status} for r in report.results if r.ok}
    failed = [r.cluster for r in report.failed]
    await run.record(what, details=rollback_details(report),
                     fields={"pending_rollback": failed}, clusters=done)
    return report


async def revert(run: RolloutRun, reverter: Reverter, settings: FinishSettings, *,
                 reason: RevertReason, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The revert's outcome as stored; never calls the reverter after a recorded success."""
    if not run.plan.spec.options.revert:
        return {"status": "skipped", "summary": "the plan says revert: false"}
    if previous is not None and previous.get("status") in ("pushed", "already_reverted",
                                                           "nothing_to_revert"):
        return previous
    error: GitOpsError | None = None
    for attempt in range(1, settings.revert_attempts + 1):
        await run.record("revert.started", details={"attempt": attempt,
                                                    "commit": run.plan.spec.release.sha})
        try:
            outcome = await reverter(plan=run.plan, rollout_id=run.id, reason=reason)
            return outcome.to_dict()
        except GitOpsError as failure:
            error = failure
            await run.record("revert.attempt_failed", details={
                "attempt": attempt, "error": str(failure), "type": type(failure).__name__})
            if attempt < settings.revert_attempts:
                await run.clock.sleep(settings.revert_backoff * attempt)
    return {"status": "failed", "error": str(error), "type": type(error).__name__,
            "summary": "the release commit is NOT reverted; traffic rollback stands: a "
            "person must act"}


async def retry_pending(run: RolloutRun, settings: FinishSettings) -> None:
    """Keep rolling back the clusters that did not answer until every one has."""
    delay = settings.retry_backoff
    while True:
        record = await run.store.get(run.id)
        if record is None or not record.pending_rollback:
            return
        await run.clock.sleep(delay)
        report = await rollback(run, list(record.pending_rollback), settings,
                                what="rollback.retry")
        if report.all_ok:
            return
        delay = min(delay * 2, settings.retry_backoff_cap)
