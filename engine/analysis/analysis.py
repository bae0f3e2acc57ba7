"""One analysis: template + canary and baseline scopes + time window -> verdicts with evidence.

A look is stateless. It asks the source for every query from the canary's start to now,
one point per interval, lines the points up into looks, and replays the judges over
them from the first look. The tests are deterministic functions of that series, so a
restarted service, a webhook called by Argo every minute and a backtest over last week
all run this same code and reach the same verdict for the same data.

Outcomes of a look, beyond the judges' PASS / FAIL / CONTINUE / NO DATA:

* a query that matched nothing is *no data* for that metric (never zeros);
* a query the source could not answer usefully (server down, timeout, 4xx, a Thanos
  warning or partial response, garbage) makes the whole look ERROR, with the query and
  the server in the reason: a dead cluster never looks like a healthy one.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from auspice.analysis.align import (
    AnalysisError,
    LookData,
    aligned,
    bucket_matrix,
    same_buckets,
)
from auspice.analysis.judges import judge_for
from auspice.errors import ConfigError, SourceError
from auspice.metrics.source import MetricsSource, NoDataError, Series
from auspice.specs import (
    AnalysisTemplate,
    AnyMetric,
    CountsMetric,
    GaugeMetric,
    HistogramMetric,
    Scope,
    ThresholdMetric,
)
from auspice.specs.promql import placeholders, render
from auspice.stats import (
    Decision,
    MetricEvidence,
    MetricPolicy,
    TestResult,
    Verdict,
    decide,
    share_alpha,
)

SCOPES = ("canary", "baseline")


@dataclass(frozen=True)
class FailedLook:
    """A look the source could not answer: the reason names the query and the server."""

    reason: str
    elapsed: float
    decision: Decision = Decision.ERROR

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.decision.value, "reason": self.reason,
                "elapsed_seconds": self.elapsed, "metrics": []}


class Analysis:
    """A template applied to one canary and its baseline, from ``start`` on."""

    def __init__(self, *, template: AnalysisTemplate, canary: Scope, baseline: Scope,
                 start: float, args: Mapping[str, str] | None = None) -> None:
        self.template = template
        self.start = float(start)
        self.interval = float(template.spec.interval)
        self.queries = {side: self._render(side, scope, args)
                        for side, scope in (("canary", canary), ("baseline", baseline))}
        policies = [self._policy(m) for m in template.spec.metrics]
        self.policies = {p.name: p for p in policies}
        self.alphas = share_alpha(template.spec.alpha, policies)

    def _render(self, side: str, scope: Scope,
                args: Mapping[str, str] | None) -> dict[tuple[str, str], str]:
        values = self.template.placeholder_values(scope, args=args)
        rendered = {}
        for metric in self.template.spec.metrics:
            if side == "baseline" and isinstance(metric, ThresholdMetric):
                continue  # fixed bounds judge the canary alone
            for role, query in metric.queries().items():
                missing = sorted((placeholders(query) & set(Scope.model_fields)) - set(values))
                if missing:
                    raise ConfigError(
                        f"the {side} scope has no {', '.join(missing)}, which metric "
                        f"{metric.name!r} ({role} query) needs",
                        hint=f"give the {side} scope " + ", ".join(f"{m}=..." for m in missing))
                rendered[(metric.name, role)] = render(query, values)
        return rendered

    def _policy(self, metric: AnyMetric) -> MetricPolicy:
        tolerance: float | None = None
        if isinstance(metric, CountsMetric | HistogramMetric):
            tolerance = metric.tolerance
        elif isinstance(metric, GaugeMetric) and metric.direction == "increase":
            tolerance = metric.tolerance if metric.mode == "ratio" else metric.margin
        return MetricPolicy(metric.name, weight=metric.weight, critical=metric.critical,
                            no_data_limit=self.template.no_data_limit(metric),
                            tolerance=tolerance)

    # -- looking -------------------------------------------------------------------

    def look_times(self, now: float) -> np.ndarray:
        """End times of the looks completed by ``now`` (one per interval after start)."""
        count = math.floor((now - self.start) / self.interval + 1e-9)
        return self.start + self.interval * np.arange(1, max(count, 0) + 1)

    async def look(self, source: MetricsSource, now: float) -> Verdict | FailedLook:
        """The verdict at ``now``, recomputed from the start."""
        history = await self.replay(source, now)
        if not history:
            return FailedLook("no complete look yet: the first ends one interval after "
                              "the start", max(0.0, now - self.start), Decision.CONTINUE)
        return history[-1]

    async def replay(self, source: MetricsSource, now: float) -> list[Verdict | FailedLook]:
        """Every look's verdict from the start to ``now`` (the backtest)."""
        times = self.look_times(now)
        if times.size == 0:
            return []
        try:
            data = await self.fetch(source, times)
        except (SourceError, AnalysisError, ExceptionGroup) as error:
            cause = _first_cause(error)
            if not isinstance(cause, SourceError | AnalysisError):
                raise
            return [FailedLook(f"look failed: {cause}", float(times[-1] - self.start))]
        return self.judge(data)

    async def fetch(self, source: MetricsSource, times: np.ndarray) -> LookData:
        """Run every query over the looks' window, concurrently, and line up the points."""
        jobs = {(metric, role, scope): query
                for scope, rendered in self.queries.items()
                for (metric, role), query in rendered.items()}
        # A task group, not gather: when one query fails the look is lost, and the
        # other queries are cancelled instead of running on after the answer.
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_query_or_none(source, q, float(times[0]),
                                                      float(times[-1]), self.interval))
                     for q in jobs.values()]
        answers = [task.result() for task in tasks]
        values: dict[tuple[str, str, str], Any] = {}
        le: dict[str, np.ndarray] = {}
        for key, series in zip(jobs, answers, strict=True):
            metric = self.template.metric(key[0])
            if isinstance(metric, HistogramMetric):
                values[key], bounds = bucket_matrix(series, times, jobs[key])
                same_buckets(le, metric.name, bounds)
            else:
                values[key] = aligned(series, times, jobs[key], additive=isinstance(
                    metric, CountsMetric))
        reference = await self._reference_buckets(source, le)
        return LookData(times, values, le, reference)

    async def _reference_buckets(self, source: MetricsSource,
                                 le: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The baseline's bucket counts before the canary started, to choose boundaries."""
        out = {}
        for metric in self.template.spec.metrics:
            if not isinstance(metric, HistogramMetric) or metric.boundaries is not None:
                continue
            query = self.queries["baseline"][(metric.name, "buckets")]
            end = self.start
            begin = end - float(metric.reference_window) + self.interval
            times = np.arange(begin, end + 1e-9, self.interval)
            series = await _query_or_none(source, query, float(times[0]), end, self.interval)
            matrix, bounds = bucket_matrix(series, times, query)
            if matrix is None or not np.nansum(matrix[:, -1]) > 0:
                continue  # the judge reports every look as no data, with the reason
            out[metric.name] = np.nansum(matrix, axis=0)
            same_buckets(le, metric.name, bounds)
        return out

    # -- judging -------------------------------------------------------------------

    def judge(self, data: LookData) -> list[Verdict]:
        """Replay the judges over the lined-up looks; one verdict per look."""
        spec = self.template.spec
        min_looks = math.ceil(spec.min_duration / self.interval)
        judges = {m.name: judge_for(m, alpha=self.alphas[m.name] or spec.alpha,
                                    le=data.le.get(m.name),
                                    reference=data.reference.get(m.name), min_looks=min_looks)
                  for m in spec.metrics}
        verdicts = []
        for k, end in enumerate(data.times):
            evidence = []
            for metric in spec.metrics:
                look = {(role, scope): (None if v is None else v[k])
                        for (name, role, scope), v in data.values.items() if name == metric.name}
                result: TestResult = judges[metric.name].update(look)
                evidence.append(MetricEvidence(
                    policy=self.policies[metric.name], alpha=self.alphas[metric.name],
                    result=result, kind=metric.kind, queries=self._queries_of(metric.name)))
            verdicts.append(decide(evidence, elapsed=float(end - self.start),
                                   min_duration=spec.min_duration, max_duration=spec.max_duration,
                                   score_threshold=spec.score_thresholds.pass_))
        return verdicts

    def _queries_of(self, metric: str) -> dict[str, str]:
        return {f"{scope}.{role}": q for scope, rendered in self.queries.items()
                for (name, role), q in rendered.items()
                if name == metric}


def _first_cause(error: BaseException) -> BaseException:
    """The first error inside (nested) exception groups of a task group."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


async def _query_or_none(source: MetricsSource, query: str, start: float, end: float,
                         step: float) -> list[Series] | None:
    try:
        return await source.query_range(query, start, end, step)
    except NoDataError:
        return None


def analysis_from(template: AnalysisTemplate, *, canary: Mapping[str, str],
                  baseline: Mapping[str, str], start: float,
                  args: Mapping[str, str] | None = None) -> Analysis:
    """An :class:`Analysis` from plain mappings (command line, webhook body)."""
    scopes = {}
    for side, values in (("canary", canary), ("baseline", baseline)):
        unknown = sorted(set(values) - set(Scope.model_fields))
        if unknown:
            raise ConfigError(f"the {side} scope has unknown key(s) {', '.join(unknown)}",
                              hint=f"a scope takes {', '.join(Scope.model_fields)}")
        scopes[side] = Scope(**values)
    return Analysis(template=template, canary=scopes["canary"], baseline=scopes["baseline"],
                    start=start, args=args)


def summarize(verdicts: Sequence[Verdict | FailedLook]) -> dict[str, Any]:
    """When the verdict first left CONTINUE, and what it was."""
    for k, v in enumerate(verdicts, start=1):
        if v.decision in (Decision.PASS, Decision.FAIL):
            return {"look": k, "elapsed_seconds": v.elapsed, "verdict": v.decision.value,
                    "reason": v.reason}
    last = verdicts[-1] if verdicts else None
    return {"look": len(verdicts), "verdict": last.decision.value if last else "continue",
            "reason": last.reason if last else "no looks"}
