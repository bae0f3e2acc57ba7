"""One Kayenta canary execution: fetch both scopes of every metric, judge, score.

Kayenta runs an execution as an Orca pipeline (fetch control, fetch experiment, mix,
judge) and its clients poll ``GET /canary/{id}`` until ``complete``.  Here an execution
is one asyncio task with the same outcome:

* every metric's control and experiment query runs as a ``query_range`` over its
  scope's start, end and step (the queries were rendered, safely, when the execution
  was accepted: see :mod:`auspice.webhooks.kayenta_queries`);
* a query that matches nothing is *no data* for that metric (Kayenta's ``Nodata``), a
  query the source cannot answer fails the whole execution (``status: terminal``,
  with the reason in ``exception``): a dead Prometheus never scores like a good canary;
* the series of each side are paired by their labels (a query aggregated to one series
  on each side is one pair), each pair is classified with
  :func:`auspice.stats.kayenta.classify_with` and the classifications are scored with
  :func:`auspice.stats.kayenta.score`, Kayenta's NetflixACAJudge rules;
* the answer carries Kayenta's field names, and NaN/infinite numbers become ``null``
  (Kayenta's Jackson writes ``NaN``, which Go's JSON decoder in Argo Rollouts rejects).

:class:`Execution` is also what is stored, so a restarted service can answer for, or
rerun, an execution it accepted before (:mod:`auspice.webhooks.kayenta_api`).
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np

from auspice.errors import AuspiceError, ConfigError
from auspice.metrics.source import MetricsSource, NoDataError, Series
from auspice.stats.kayenta import (
    ClassificationResult,
    ClassifierConfig,
    ScoreLabel,
    Summary,
    classify_with,
    score,
)
from auspice.webhooks.kayenta.models import CanaryConfig, ExecutionRequest, Thresholds
from auspice.webhooks.kayenta.queries import MetricQueries, QueryError

__all__ = [
    "Execution",
    "ExecutionState",
    "classifier_configs",
    "iso_time",
    "judge",
    "resolve_thresholds",
]

EMPTY = np.empty(0, dtype=np.float64)


class ExecutionState(StrEnum):
    """Orca's pipeline statuses, lower-case as Kayenta reports them in ``status``."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    TERMINAL = "terminal"

    @property
    def complete(self) -> bool:
        return self is not ExecutionState.RUNNING


def classifier_configs(config: CanaryConfig, *, field_prefix: str) -> list[ClassifierConfig]:
    """Each metric's ``analysisConfigurations.canary`` checked now, so a typo is a 400."""
    configs = []
    for index, metric in enumerate(config.metrics):
        try:
            configs.append(ClassifierConfig.parse({**metric.canary_settings, "name": metric.name}))
        except ConfigError as error:
            raise QueryError(
                str(error),
                field=f"{field_prefix}metrics[{index}].analysisConfigurations.canary",
            ) from None
    return configs


def resolve_thresholds(config: CanaryConfig, request: ExecutionRequest) -> Thresholds:
    """The request's thresholds, else the config's ``classifier.scoreThresholds``."""
    thresholds = request.thresholds or config.classifier.score_thresholds
    if thresholds is None:
        raise QueryError(
            "classifier thresholds must be given in the execution request or the canary config",
            field="thresholds",
            hint='send "thresholds": {"pass": 95, "marginal": 75}',
        )
    return thresholds


# ------------------------------------------------------------------------- fetching


async def _values(
    source: MetricsSource, query: str, start: float, end: float, step: float
) -> list[Series]:
    try:
        return await source.query_range(query, start, end, step)
    except NoDataError:
        return []


def _pairs(
    control: Sequence[Series], experiment: Sequence[Series]
) -> list[tuple[dict[str, str], np.ndarray, np.ndarray]]:
    """(tags, control values, experiment values) per label set; one pair if one each."""
    if len(control) <= 1 and len(experiment) <= 1:
        c = control[0] if control else None
        e = experiment[0] if experiment else None
        tags = {
            k: v
            for k, v in (e.labels if e else c.labels if c else {}).items()
            if c is None or e is None or c.labels.get(k) == v
        }
        return [(tags, c.values if c else EMPTY, e.values if e else EMPTY)]
    by_labels: dict[frozenset[tuple[str, str]], list[np.ndarray]] = {}
    for side, series_list in enumerate((control, experiment)):
        for series in series_list:
            slot = by_labels.setdefault(frozenset(series.labels.items()), [EMPTY, EMPTY])
            slot[side] = series.values
    return [(dict(sorted(key)), c, e) for key, (c, e) in sorted(by_labels.items(), key=_order)]


def _order(item: tuple[frozenset[tuple[str, str]], Any]) -> list[tuple[str, str]]:
    return sorted(item[0])


# ------------------------------------------------------------------------- judging


def _number(value: float) -> float | None:
    """JSON-safe: NaN and infinities become null."""
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def _stats(summary: Summary | None, query: str) -> dict[str, Any]:
    if summary is None:
        return {"stats": {}, "query": query}
    stats = {
        "count": summary.count,
        "mean": _number(summary.mean),
        "min": _number(summary.min),
        "max": _number(summary.max),
        "std": _number(summary.std),
    }
    return {"stats": stats, "query": query}


def _analysis_result(
    plan: MetricQueries, tags: Mapping[str, str], result: ClassificationResult
) -> dict[str, Any]:
    """One entry of ``judgeResult.results`` (Kayenta's ``CanaryAnalysisResult``)."""
    entry: dict[str, Any] = {
        "name": plan.metric.name,
        "id": str(uuid.uuid4()),
        "tags": dict(tags),
        "classification": result.classification.value,
        "groups": list(plan.metric.groups),
        "experimentMetadata": _stats(result.experiment, plan.experiment),
        "controlMetadata": _stats(result.control, plan.control),
        "resultMetadata": _result_metadata(result),
        "critical": result.critical,
    }
    if result.reason:
        entry["classificationReason"] = result.reason
    return entry


def _result_metadata(result: ClassificationResult) -> dict[str, Any]:
    metadata: dict[str, Any] = {"ratio": _number(result.deviation)}
    if not math.isnan(result.effect_size):
        metadata["effectSize"] = _number(result.effect_size)
    if result.interval is not None:
        metadata["interval"] = {
            "lower": _number(result.interval.lower),
            "upper": _number(result.interval.upper),
            "estimate": _number(result.interval.estimate),
        }
    return metadata


async def _judge_metric(
    source: MetricsSource, plan: MetricQueries, cfg: ClassifierConfig, limit: asyncio.Semaphore
) -> list[tuple[dict[str, Any], ClassificationResult]]:
    async def fetch(query: str, scope: Any) -> list[Series]:
        async with limit:
            return await _values(
                source, query, scope.start_seconds, scope.end_seconds, float(scope.step)
            )

    control, experiment = await asyncio.gather(
        fetch(plan.control, plan.control_scope), fetch(plan.experiment, plan.experiment_scope)
    )
    out = []
    for tags, c, e in _pairs(control, experiment):
        result = classify_with(e, c, cfg)
        out.append((_analysis_result(plan, tags, result), result))
    return out


async def judge(
    source: MetricsSource,
    *,
    config: CanaryConfig,
    plans: Sequence[MetricQueries],
    classifiers: Sequence[ClassifierConfig],
    thresholds: Thresholds,
    concurrency: int = 8,
) -> dict[str, Any]:
    """The ``result`` of a finished execution (Kayenta's ``CanaryResult``).

    Raises whatever the source raises for a query it cannot answer
    (:class:`~auspice.errors.SourceError`); no data is not an error.
    """
    limit = asyncio.Semaphore(concurrency)
    per_metric = await asyncio.gather(
        *(_judge_metric(source, p, c, limit) for p, c in zip(plans, classifiers, strict=True))
    )
    entries = [entry for metric in per_metric for entry in metric]
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry, result in entries:
        verdict = {
            "classification": result.classification.value,
            "critical": result.critical,
            "muted": result.muted,
            "name": entry["id"],
            "reason": result.reason,
        }
        for group in entry["groups"]:
            groups.setdefault(group, []).append(verdict)
    scored = score(groups, config.classifier.group_weights, (thresholds.pass_, thresholds.marginal))
    label = ScoreLabel.FAIL if scored.reason else scored.classification
    judge_result = {
        "judgeName": config.judge.name,
        "results": [entry for entry, _ in entries],
        "groupScores": [
            {
                "name": name,
                "score": _number(value),
                "classification": "",
                "classificationReason": "",
            }
            for name, value in scored.group_scores.items()
        ],
        "score": {
            "score": _number(scored.summary_score),
            "classification": label.value if label else "",
            "classificationReason": scored.reason or "",
        },
    }
    result: dict[str, Any] = {"judgeResult": judge_result}
    duration = _duration(plans)
    if duration is not None:
        result["canaryDuration"] = duration
    return result


def _duration(plans: Iterable[MetricQueries]) -> str | None:
    """ISO-8601 duration of the scopes when they all have the same length (as Kayenta)."""
    lengths = {
        round(scope.end_seconds - scope.start_seconds, 3)
        for p in plans
        for scope in (p.control_scope, p.experiment_scope)
    }
    if len(lengths) != 1:
        return None
    seconds = lengths.pop()
    return f"PT{seconds:g}S" if seconds % 60 else f"PT{int(seconds // 60)}M"


# ------------------------------------------------------------------------ execution


def iso_time(seconds: float) -> str:
    """Kayenta's ``...TimeIso``: UTC, milliseconds, ``Z``."""
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Execution:
    """An accepted canary execution and, once complete, its result or failure."""

    id: str
    config_id: str
    config: CanaryConfig
    request: ExecutionRequest
    build_time: float
    application: str
    parent_pipeline_execution_id: str
    accounts: dict[str, str] = field(default_factory=dict)
    state: ExecutionState = ExecutionState.RUNNING
    start_time: float | None = None
    end_time: float | None = None
    result: dict[str, Any] | None = None
    exception: dict[str, Any] | None = None

    def succeed(self, result: dict[str, Any], *, at: float) -> None:
        self.state, self.result, self.end_time = ExecutionState.SUCCEEDED, result, at

    def fail(self, error: BaseException | str, *, at: float) -> None:
        message = str(error)
        kind = type(error).__name__ if isinstance(error, BaseException) else "AuspiceError"
        self.state, self.end_time = ExecutionState.TERMINAL, at
        self.exception = {
            "timestamp": int(at * 1000),
            "exceptionType": kind,
            "shouldRetry": False,
            "details": {"error": message, "errors": [message]},
        }

    def status_response(self) -> dict[str, Any]:
        """Kayenta's ``CanaryExecutionStatusResponse``, what ``GET /canary/{id}`` answers."""
        stage = self.state.value
        body: dict[str, Any] = {
            "application": self.application,
            "parentPipelineExecutionId": self.parent_pipeline_execution_id,
            "pipelineId": self.id,
            "stageStatus": {
                "setupCanary": "succeeded",
                "fetchMetrics": stage,
                "canaryJudge": stage,
            },
            "complete": self.state.complete,
            "status": self.state.value,
            "executionStatus": self.state.value.upper(),
            "canaryConfigId": self.config_id,
            "config": self.config.wire(),
            "canaryExecutionRequest": self.request.wire(),
        }
        body.update({k: v for k, v in self.accounts.items() if v})
        for name, at in (("build", self.build_time), ("start", self.start_time),
                         ("end", self.end_time)):  # fmt: skip
            if at is not None:
                body[f"{name}TimeMillis"] = int(at * 1000)
                body[f"{name}TimeIso"] = iso_time(at)
        if self.result is not None:
            body["result"] = self.result
        if self.exception is not None:
            body["exception"] = self.exception
        return body

    def record(self) -> dict[str, Any]:
        """Everything needed to answer for, or rerun, this execution after a restart."""
        return {
            "id": self.id,
            "configId": self.config_id,
            "config": self.config.wire(),
            "request": self.request.wire(),
            "buildTime": self.build_time,
            "application": self.application,
            "parentPipelineExecutionId": self.parent_pipeline_execution_id,
            "accounts": self.accounts,
            "state": self.state.value,
            "startTime": self.start_time,
            "endTime": self.end_time,
            "result": self.result,
            "exception": self.exception,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> Execution:
        try:
            return cls(
                id=data["id"],
                config_id=data["configId"],
                config=CanaryConfig.model_validate(data["config"]),
                request=ExecutionRequest.model_validate(data["request"]),
                build_time=float(data["buildTime"]),
                application=data["application"],
                parent_pipeline_execution_id=data["parentPipelineExecutionId"],
                accounts=dict(data.get("accounts") or {}),
                state=ExecutionState(data["state"]),
                start_time=data.get("startTime"),
                end_time=data.get("endTime"),
                result=data.get("result"),
                exception=data.get("exception"),
            )
        except (KeyError, ValueError, TypeError) as error:
            raise AuspiceError(f"stored Kayenta execution is unreadable: {error}") from None
