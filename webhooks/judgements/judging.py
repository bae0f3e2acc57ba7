"""One look of a durable judgement: the service core behind every webhook.

A *judgement* is a template applied to one canary of one rollout, from a recorded start.
Argo Rollouts and Flagger call once per interval and cannot poll, so each call is one
stateless look (:meth:`auspice.analysis.Analysis.replay`), bounded by a deadline, that
answers with the verdict so far:

1. the template is resolved (unknown: 404) and the queries rendered for both scopes and
   the arguments (missing argument, a value that does not fit: 400) -- all before
   anything is written or queried;
2. the first call for (template, rollout, canary) records the start in the store; every
   later call reads it back, so a restart continues the judgement where it was;
3. a judgement that already reached PASS or FAIL answers from the store: the verdict
   is sticky, as a rollout that was told "fail" must not be told "pass" a minute later;
4. otherwise the analysis is replayed from the start to the context clock's "now"; the
   verdict is the first PASS or FAIL of the replay (where the analysis stopped), else
   the last look's;
5. a look that fails (Prometheus down, a query with the wrong shape) or exceeds the
   deadline is answered as ``error`` with the reason: a 2xx answer Argo can read,
   never a timeout.
"""

from __future__ import annotations

import asyncio
import copy
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from auspice.analysis import Analysis, FailedLook, analysis_from
from auspice.errors import AuspiceError, InputError
from auspice.specs import AnalysisTemplate
from auspice.stats import Decision, Verdict
from auspice.storage import FINAL_VERDICTS, JudgementKey, JudgementRecord
from auspice.webhooks.context import Principal, ServiceContext
from auspice.webhooks.telemetry import log_event

__all__ = [
    "JudgementBody",
    "Outcome",
    "ScopeBody",
    "identity",
    "judge",
    "key_of",
    "open_judgement",
    "parse_start",
]

Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]
#: Scope values are Kubernetes names, label values, versions and hashes. Quotes, braces,
#: spaces and control characters are refused outright (400 naming the field) even though
#: the renderer would escape them: such a value is a mistake or an attack, never a scope.
LabelValue = Annotated[str, StringConstraints(
    max_length=253, pattern=r"^[A-Za-z0-9]([A-Za-z0-9._:/@+=-]*[A-Za-z0-9_])?$")]
ArgName = Annotated[str, StringConstraints(min_length=1, max_length=128,
                                           pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
#: Argument values are checked against the template's type and pattern, and escaped
#: where they land in a string; control characters are refused here already.
ArgValue = Annotated[str, StringConstraints(max_length=1024, pattern=r"^[^\x00-\x1f\x7f]*$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ScopeBody(_Body):
    """One side's placeholder values (all optional; a query that needs one says so)."""

    version: LabelValue | None = None
    workload: LabelValue | None = None
    namespace: LabelValue | None = None
    cluster: LabelValue | None = None

    def values(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}

    def identity(self) -> str:
        """A stable text for the judgement key: ``cluster=..,namespace=..,...``."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.values().items()))


class JudgementBody(_Body):
    """What Argo's ``jsonBody`` (or any caller) sends to ``POST /api/v1/judgements``."""

    template: Name
    rollout: Name
    canary: ScopeBody
    baseline: ScopeBody
    args: dict[ArgName, ArgValue] = Field(default_factory=dict, max_length=64)
    start: Annotated[str, StringConstraints(max_length=64)] | float | int | None = None
    #: What else tells this release apart (Flagger's checksum); part of the judgement key.
    release: Annotated[str, StringConstraints(max_length=253)] | None = None


@dataclass(frozen=True)
class Outcome:
    """The answer to one look: the stored judgement and the verdict (dict form)."""

    record: JudgementRecord
    created: bool
    result: Mapping[str, Any]
    looks: int = 0  # complete looks at "now" (what a remembered answer is valid for)
    interval: float = 0.0

    @property
    def verdict(self) -> str:
        return str(self.result["verdict"])


def parse_start(value: str | float | int | None) -> float | None:
    """Epoch seconds from a number or an RFC 3339 text; InputError naming the value."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        try:
            seconds = float(value)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise InputError(f"start: {value!r} is neither epoch seconds nor RFC 3339",
                                 hint="e.g. 2026-01-01T00:30:00Z") from None
            if parsed.tzinfo is None:
                raise InputError(f"start: {value!r} has no time zone",
                                 hint="add Z or an offset, e.g. 2026-01-01T00:30:00Z") from None
            seconds = parsed.timestamp()
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(f"start: {value!r} is not a time")
    return seconds


def key_of(body: JudgementBody) -> JudgementKey:
    canary = body.canary.identity()
    if body.release:
        canary = f"{canary},release={body.release}" if canary else f"release={body.release}"
    return JudgementKey(body.template, body.rollout, canary)


def prepare(context: ServiceContext, body: JudgementBody) -> tuple[AnalysisTemplate, Analysis]:
    """Resolve the template and render every query (raises before anything is stored).

    The rendered analysis is memoized per (template, scopes, arguments); each caller
    gets its own shallow copy, since the copy's ``start`` is set per judgement.
    """
    template = context.templates.get(body.template)
    memo_key = (id(template), body.canary, body.baseline, tuple(sorted(body.args.items())))
    analysis = context.memo.prepared.get(memo_key)
    if analysis is None:
        analysis = analysis_from(template, canary=body.canary.values(),
                                 baseline=body.baseline.values(), start=0.0, args=body.args)
        context.memo.prepared.put(memo_key, analysis)
    return template, copy.copy(analysis)


async def open_judgement(context: ServiceContext, body: JudgementBody, *,
                         principal: Principal) -> tuple[AnalysisTemplate, Analysis,
                                                        JudgementRecord, bool]:
    """Check the request, then find or open its judgement (the start is recorded once)."""
    template, analysis = prepare(context, body)
    now = context.clock.now()
    start = parse_start(body.start)
    if start is not None and start > now:
        raise InputError(f"start: {body.start!r} is in the future (now is {_iso(now)})")
    key = key_of(body)
    record = context.memo.records.get(key)
    created = False
    if record is None:
        record, created = await context.store.judgements.open_judgement(
            key, start=start if start is not None else now, who=principal.name,
            request=body.model_dump())
        context.memo.records.put(key, record)
        if not record.open and record.last_result is not None:
            context.memo.finals.put(record.id, record.last_result)
    analysis.start = record.start
    return template, analysis, record, created


async def judge(context: ServiceContext, body: JudgementBody, *, principal: Principal,
                api: str) -> Outcome:
    """One look of the judgement ``body`` names (see the module docstring)."""
    template, analysis, record, created = await open_judgement(context, body,
                                                               principal=principal)
    now = context.clock.now()
    look = int(analysis.look_times(now).size)
    final = context.memo.finals.get(record.id)
    if final is not None:
        return Outcome(record, created, {**final, **identity(record, now)}, look,
                       analysis.interval)
    remembered = context.memo.look(record.id, look)
    if remembered is not None:
        context.metrics.judgements.labels(verdict=remembered["verdict"], api=api).inc()
        return Outcome(record, created, {**remembered, **identity(record, now)}, look,
                       analysis.interval)
    result = await _look(context, analysis, now=now, api=api)
    result = {**result, **identity(record, now)}
    await context.store.judgements.record_look(record.id, verdict=result["verdict"],
                                    reason=str(result.get("reason", "")), at=now, result=result,
                                    who=principal.name)
    _remember(context, record, look, result)
    context.metrics.judgements.labels(verdict=result["verdict"], api=api).inc()
    log_event(context.log, "judgement.look", judgement=record.id, api=api,
              template=template.name, rollout=body.rollout, verdict=result["verdict"],
              reason=result.get("reason"), look=result.get("look"), who=principal.name)
    return Outcome(record, created, result, look, analysis.interval)


def _remember(context: ServiceContext, record: JudgementRecord, look: int,
              result: Mapping[str, Any]) -> None:
    if result["verdict"] in FINAL_VERDICTS:
        context.memo.finals.put(record.id, result)
    elif context.config.cache.ttl and result["verdict"] != "error":
        context.memo.remember_look(record.id, look, result, ttl=context.config.cache.ttl)


async def refresh_open_gauge(context: ServiceContext) -> None:
    context.metrics.open_judgements.set(await context.store.judgements.count_open_judgements())


async def _look(context: ServiceContext, analysis: Analysis, *, now: float,
                api: str) -> dict[str, Any]:
    began = time.perf_counter()
    try:
        async with asyncio.timeout(context.look_deadline):
            history = await context.inflight.run(analysis.replay(context.source, now))
    except TimeoutError:
        context.metrics.deadline_exceeded.labels(api=api).inc()
        return _failed(f"the look did not finish within {context.look_deadline:g} s "
                       "(metrics source too slow); the next call tries again",
                       elapsed=now - analysis.start)
    except AuspiceError as error:
        return _failed(f"look failed: {error}", elapsed=now - analysis.start)
    finally:
        context.metrics.look_seconds.labels(api=api).observe(time.perf_counter() - began)
    return verdict_payload(history, analysis=analysis, now=now)


def verdict_payload(history: list[Verdict | FailedLook], *, analysis: Analysis,
                    now: float) -> dict[str, Any]:
    """The answer body: the decisive (or last) look, flattened numbers, booleans."""
    if not history:
        first = analysis.start + analysis.interval
        return {**_failed(f"no complete look yet: the first ends at {_iso(first)}, one "
                          "interval after the start", elapsed=max(0.0, now - analysis.start),
                          decision=Decision.CONTINUE), "look": 0}
    index, chosen = _decisive(history)
    payload = chosen.to_dict()
    payload["look"] = index + 1
    payload["looks"] = len(history)
    payload["numbers"] = _numbers(payload)
    payload.update(_flags(payload["verdict"]))
    return payload


def _decisive(history: list[Verdict | FailedLook]) -> tuple[int, Verdict | FailedLook]:
    for index, verdict in enumerate(history):
        if verdict.decision in (Decision.PASS, Decision.FAIL):
            return index, verdict
    return len(history) - 1, history[-1]


def _failed(reason: str, *, elapsed: float,
            decision: Decision = Decision.ERROR) -> dict[str, Any]:
    payload = FailedLook(reason, elapsed, decision).to_dict()
    payload["numbers"] = {"elapsed_seconds": elapsed}
    payload.update(_flags(payload["verdict"]))
    return payload


def _flags(verdict: str) -> dict[str, bool]:
    """Booleans an AnalysisTemplate condition can test without string comparison."""
    return {"pass": verdict == "pass", "fail": verdict == "fail",
            "done": verdict in FINAL_VERDICTS}


def _numbers(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``{metric_estimate: ...}``: one flat level, names safe for Argo's JSONPath."""
    out: dict[str, Any] = {"elapsed_seconds": payload.get("elapsed_seconds")}
    if "score" in payload:
        out["score"] = payload["score"]
    for metric in payload.get("metrics", []):
        prefix = str(metric["name"]).replace("-", "_").replace(".", "_")
        for field in ("estimate", "lower", "upper", "e_value", "p_value"):
            out[f"{prefix}_{field}"] = metric.get(field)
        out[f"{prefix}_rejected"] = bool(metric.get("rejected"))
        out[f"{prefix}_status"] = metric.get("status")
    return out


def identity(record: JudgementRecord, now: float) -> dict[str, Any]:
    return {"judgement": record.id, "template": record.key.template,
            "rollout": record.key.rollout, "canary": record.key.canary,
            "start": _iso(record.start), "start_epoch": record.start, "now": _iso(now)}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
