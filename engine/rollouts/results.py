"""What finishing a rollout produced, as values: each cluster's rollback, the revert, the outcome.

These are stored (as JSON in the rollout's row) and answered by the API, so each type
has ``to_dict`` and ``from_dict`` and the stored shape is the API's shape. Callers test
fields and enums (``result.revert.status.done``), never strings pulled out of a mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from auspice.gitops import RevertOutcome, RevertStatus
from auspice.traffic.fanout import FanoutReport, Status

__all__ = ["ClusterRollback", "RevertResult", "RollbackResult", "RolloutOutcome"]


@dataclass(frozen=True)
class ClusterRollback:
    """One cluster's part of a rollback: set to all-stable, or why not."""

    cluster: str
    status: Status
    reason: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status is not Status.FAILED


@dataclass(frozen=True)
class RollbackResult:
    """Canary weight 0 everywhere a rollout touched: every cluster's answer."""

    clusters: tuple[ClusterRollback, ...]
    seconds: float

    @property
    def unreachable(self) -> list[str]:
        return [c.cluster for c in self.clusters if not c.ok]

    @property
    def rolled_back(self) -> list[str]:
        return [c.cluster for c in self.clusters if c.ok]

    @classmethod
    def from_report(cls, report: FanoutReport) -> RollbackResult:
        return cls(tuple(ClusterRollback(r.cluster, r.status, r.reason, r.seconds)
                         for r in report.results), report.seconds)

    def to_dict(self) -> dict[str, Any]:
        return {"clusters": {c.cluster: {"status": c.status.value, "reason": c.reason,
                                         "seconds": round(c.seconds, 4)}
                             for c in self.clusters},
                "unreachable": self.unreachable, "seconds": round(self.seconds, 4)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RollbackResult:
        return cls(tuple(ClusterRollback(name, Status(c["status"]), c.get("reason"),
                                         float(c.get("seconds", 0.0)))
                         for name, c in data.get("clusters", {}).items()),
                   float(data.get("seconds", 0.0)))


@dataclass(frozen=True)
class RevertResult:
    """How the release commit's revert ended, with the git details when one was made."""

    status: RevertStatus
    summary: str
    outcome: RevertOutcome | None = None  # what revert_release answered
    error: str | None = None  # why every attempt failed
    error_type: str | None = None

    @classmethod
    def of(cls, outcome: RevertOutcome) -> RevertResult:
        return cls(outcome.status, outcome.summary, outcome=outcome)

    @classmethod
    def skipped(cls, why: str) -> RevertResult:
        return cls(RevertStatus.SKIPPED, why)

    @classmethod
    def failed(cls, error: BaseException | None) -> RevertResult:
        return cls(RevertStatus.FAILED, "the release commit is NOT reverted; traffic "
                   "rollback stands: a person must act", error=str(error),
                   error_type=type(error).__name__)

    def to_dict(self) -> dict[str, Any]:
        if self.outcome is not None:
            return self.outcome.to_dict()
        data: dict[str, Any] = {"status": self.status.value, "summary": self.summary}
        if self.status is RevertStatus.FAILED:
            data.update(error=self.error, type=self.error_type)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RevertResult:
        status = RevertStatus(data["status"])
        outcome = None
        if "release_commit" in data:
            names = RevertOutcome.__dataclass_fields__
            fields = {k: v for k, v in data.items() if k in names}
            fields["status"] = status
            fields["reverted_commits"] = tuple(fields.get("reverted_commits", ()))
            fields["nudged"] = tuple(fields.get("nudged", ()))
            outcome = RevertOutcome(**fields)
        return cls(status, str(data.get("summary", "")), outcome=outcome,
                   error=data.get("error"), error_type=data.get("type"))


@dataclass(frozen=True)
class RolloutOutcome:
    """How a rollout ended (or is ending): promoted, or where and why it failed, and the
    rollback and revert that followed."""

    promoted: bool = False
    failed_cluster: str | None = None  # the cluster whose FAIL failed the whole rollout
    reason: str | None = None
    wave: int | None = None
    failed_clusters: tuple[str, ...] = field(default=())  # failWholeRollout: false
    rollback: RollbackResult | None = None
    revert_status: RevertStatus | None = None

    def with_rollback(self, rollback: RollbackResult) -> RolloutOutcome:
        return replace(self, rollback=rollback)

    def with_revert(self, status: RevertStatus) -> RolloutOutcome:
        return replace(self, revert_status=status)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.promoted:
            data.update(result="promoted", failed_clusters=list(self.failed_clusters))
        if self.failed_cluster is not None:
            data.update(failed_cluster=self.failed_cluster, reason=self.reason, wave=self.wave)
        if self.rollback is not None:
            data["rollback"] = self.rollback.to_dict()
        if self.revert_status is not None:
            data["revert_status"] = self.revert_status.value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutOutcome:
        rollback = data.get("rollback")
        status = data.get("revert_status")
        return cls(promoted=data.get("result") == "promoted",
                   failed_cluster=data.get("failed_cluster"), reason=data.get("reason"),
                   wave=data.get("wave"),
                   failed_clusters=tuple(data.get("failed_clusters", ())),
                   rollback=RollbackResult.from_dict(rollback) if rollback else None,
                   revert_status=RevertStatus(status) if status else None)
