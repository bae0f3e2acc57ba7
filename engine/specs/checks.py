"""Rules of an AnalysisTemplate that relate fields to each other, and its PromQL.

pydantic checks one field at a time; what it cannot see is whether the settings make
sense together: a minimum duration longer than the maximum, a look interval longer than
the minimum duration, a gauge whose batches never fill before the analysis ends, weights
that are all zero, two metrics with one name, a placeholder that no scope or argument
fills, a query PromQL cannot parse, or a histogram query that aggregates ``le`` away (the
judge needs the buckets, not a quantile). Each rule returns findings with the path of the
field to change, so the loader can point at its line.

Queries are parsed after rendering them with harmless sample values, exactly as they will
be rendered for a real scope, so the check covers what Prometheus will actually see.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from typing import Any

import promql_parser
from pydantic import TypeAdapter, ValidationError

from auspice.specs import promql
from auspice.specs.durations import Duration, format_duration
from auspice.specs.problems import Finding
from auspice.specs.template import (
    BUILTIN_PLACEHOLDERS,
    AnalysisTemplate,
    AnyMetric,
    Arg,
    GaugeMetric,
    HistogramMetric,
    Metric,
    ThresholdMetric,
)

Path = tuple[str | int, ...]

_SAMPLE_SCOPE = {"version": "v1", "workload": "sample", "namespace": "default", "cluster": "sample"}
_SAMPLE_ARGS = {"string": "sample", "identifier": "sample_label", "duration": "5m", "number": "1"}
_METRICS: Path = ("spec", "metrics")


def template_findings(template: AnalysisTemplate) -> list[Finding]:
    """Every cross-field and PromQL problem of ``template`` (empty when it is sound)."""
    return [
        *_duration_findings(template),
        *_score_findings(template),
        *_arg_findings(template),
        *_name_findings(template),
        *_weight_findings(template),
        *_kind_findings(template),
        *_query_findings(template),
    ]


def _duration_findings(template: AnalysisTemplate) -> Iterator[Finding]:
    spec = template.spec
    if spec.min_duration > spec.max_duration:
        yield Finding(
            ("spec", "minDuration"),
            f"minDuration ({format_duration(spec.min_duration)}) is longer than "
            f"maxDuration ({format_duration(spec.max_duration)})",
            "make minDuration at most maxDuration",
        )
    if spec.interval > spec.min_duration:
        yield Finding(
            ("spec", "interval"),
            f"interval ({format_duration(spec.interval)}) is longer than minDuration "
            f"({format_duration(spec.min_duration)}): no look would happen before it ends",
            "shorten the interval (1m is usual) or lengthen minDuration",
        )
    if spec.interval < 1:
        yield Finding(
            ("spec", "interval"),
            f"interval {format_duration(spec.interval)} is shorter than one second",
            "use at least 1s; metrics are rarely scraped more often than every 15s",
        )


def _score_findings(template: AnalysisTemplate) -> Iterator[Finding]:
    thresholds = template.spec.score_thresholds
    if thresholds.marginal > thresholds.pass_:
        yield Finding(
            ("spec", "scoreThresholds", "marginal"),
            f"marginal ({thresholds.marginal:g}) is above pass ({thresholds.pass_:g})",
            "set marginal at most pass, e.g. pass: 95, marginal: 75",
        )


def _arg_findings(template: AnalysisTemplate) -> Iterator[Finding]:
    seen: set[str] = set()
    for index, arg in enumerate(template.spec.args):
        path: Path = ("spec", "args", index)
        if arg.name in BUILTIN_PLACEHOLDERS:
            yield Finding(
                (*path, "name"),
                f"argument {arg.name!r} has the name of a built-in placeholder",
                "the scopes fill it already; give the argument another name",
            )
        elif arg.name in seen:
            yield Finding(
                (*path, "name"),
                f"argument {arg.name!r} is defined twice",
                "remove or rename one of them",
            )
        seen.add(arg.name)
        if arg.default is not None and (problem := arg.problem_with(arg.default)):
            yield Finding(
                (*path, "default"),
                f"default of {arg.name!r}: {problem}",
                "change the default or the argument's type/pattern",
            )


def _name_findings(template: AnalysisTemplate) -> Iterator[Finding]:
    seen: set[str] = set()
    for index, metric in enumerate(template.spec.metrics):
        if metric.name in seen:
            yield Finding(
                (*_METRICS, index, "name"),
                f"metric name {metric.name!r} is used twice",
                "give each metric its own name (with 'use:', set 'name:' to tell them apart)",
            )
        seen.add(metric.name)


def _weight_findings(template: AnalysisTemplate) -> Iterator[Finding]:
    if sum(metric.weight for metric in template.spec.metrics) <= 0:
        yield Finding(
            (*_METRICS, 0, "weight"),
            "every metric has weight 0, so alpha cannot be shared among them",
            "give at least one metric a weight above 0 (the default is 1)",
        )


def _kind_findings(template: AnalysisTemplate) -> Iterator[Finding]:
    for index, metric in enumerate(template.spec.metrics):
        path: Path = (*_METRICS, index)
        if isinstance(metric, GaugeMetric):
            yield from _gauge_findings(template, metric, path)
        elif isinstance(metric, HistogramMetric) and metric.quantiles and metric.boundaries:
            yield Finding(
                (*path, "boundaries"),
                "both quantiles and boundaries are given",
                "give boundaries (fixed 'le' values) or quantiles (chosen from the baseline)",
            )
        elif isinstance(metric, ThresholdMetric):
            yield from _threshold_findings(metric, path)


def _gauge_findings(
    template: AnalysisTemplate, metric: GaugeMetric, path: Path
) -> Iterator[Finding]:
    if metric.mode == "ratio":
        if metric.tolerance is None:
            yield Finding(
                (*path, "tolerance"),
                "a ratio gauge needs a tolerance",
                "add 'tolerance:' (allowed ratio, e.g. 1.2 = 20% worse)",
            )
        if metric.margin is not None:
            yield Finding(
                (*path, "margin"),
                "margin only applies to mode: difference",
                "use 'tolerance:' (a ratio) or set 'mode: difference'",
            )
    else:
        if metric.margin is None:
            yield Finding(
                (*path, "margin"),
                "a difference gauge needs a margin",
                "add 'margin:' in the query's unit (0 = no worse at all)",
            )
        if metric.tolerance is not None:
            yield Finding(
                (*path, "tolerance"),
                "tolerance only applies to mode: ratio",
                "use 'margin:' (an absolute difference) or set 'mode: ratio'",
            )
    needed = 2 * metric.batch_size * template.spec.interval
    if needed > template.spec.max_duration:
        yield Finding(
            (*path, "batchSize"),
            f"batchSize {metric.batch_size} at interval {format_duration(template.spec.interval)}"
            f" needs {format_duration(needed)} for two batches, longer than maxDuration "
            f"({format_duration(template.spec.max_duration)}): the gauge could never fail",
            "lower batchSize or raise maxDuration",
        )


def _threshold_findings(metric: ThresholdMetric, path: Path) -> Iterator[Finding]:
    if metric.minimum is None and metric.maximum is None:
        yield Finding(
            (*path, "max"),
            "a threshold metric needs 'min', 'max' or both",
            "add 'max:' (e.g. 500 for latency) or 'min:' (e.g. 99 for success)",
        )
    elif (
        metric.minimum is not None
        and metric.maximum is not None
        and metric.minimum > metric.maximum
    ):
        yield Finding(
            (*path, "min"),
            f"min ({metric.minimum:g}) is above max ({metric.maximum:g})",
            "swap them or fix one",
        )


def _query_findings(template: AnalysisTemplate) -> Iterator[Finding]:
    spec = template.spec
    for index, metric in enumerate(spec.metrics):
        yield from _metric_query_findings(metric, index, args=spec.args, interval=spec.interval)


def query_findings_of_raw(data: Any) -> list[Finding]:
    """Query findings of a template that failed validation as a whole.

    So that one run of ``auspice validate`` shows a typo in one metric *and* a broken
    query in another, every metric that validates on its own gets its queries checked
    against the arguments that validate on their own.
    """
    spec = data.get("spec") if isinstance(data, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("metrics"), list):
        return []
    raw_args = spec.get("args") if isinstance(spec.get("args"), list) else []
    args = [arg for raw in raw_args if (arg := _valid(_ARG, raw)) is not None]
    interval = _valid(_DURATION, spec.get("interval", "1m")) or 60.0
    findings: list[Finding] = []
    for index, raw in enumerate(spec["metrics"]):
        metric = _valid(_METRIC, raw)
        if metric is not None:
            findings.extend(_metric_query_findings(metric, index, args=args, interval=interval))
    return findings


_ARG: TypeAdapter[Arg] = TypeAdapter(Arg)
_METRIC: TypeAdapter[AnyMetric] = TypeAdapter(Metric)  # type: ignore[arg-type]
_DURATION: TypeAdapter[float] = TypeAdapter(Duration)


def _valid(adapter: TypeAdapter[Any], raw: Any) -> Any:
    try:
        return adapter.validate_python(raw)
    except ValidationError:
        return None


def _metric_query_findings(
    metric: AnyMetric, index: int, *, args: Sequence[Arg], interval: float
) -> Iterator[Finding]:
    known = BUILTIN_PLACEHOLDERS | {arg.name for arg in args}
    samples = sample_values(args, interval=interval)
    for role, query in metric.queries().items():
        path: Path = (*_METRICS, index, role)
        unknown = sorted(promql.placeholders(query) - known)
        if unknown:
            yield _undefined(unknown, known, path)
            continue
        yield from _syntax_findings(query, samples, path, histogram=role == "buckets")


def _undefined(unknown: list[str], known: set[str], path: Path) -> Finding:
    names = ", ".join("{{" + name + "}}" for name in unknown)
    close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
    hint = f"did you mean {{{{{close[0]}}}}}? " if close else ""
    hint += (
        f"define it under spec.args (name, default) or use a built-in: "
        f"{', '.join(sorted(BUILTIN_PLACEHOLDERS))}"
    )
    return Finding(path, f"undefined placeholder {names}", hint)


def sample_values(args: Sequence[Arg], *, interval: float) -> dict[str, str]:
    """Harmless values for every placeholder, used to render queries for checking."""
    values = dict(_SAMPLE_SCOPE, interval=format_duration(interval))
    for arg in args:
        values.setdefault(arg.name, arg.default or _SAMPLE_ARGS[arg.type])
    return values


def _syntax_findings(
    query: str, samples: dict[str, str], path: Path, *, histogram: bool
) -> Iterator[Finding]:
    try:
        rendered = promql.render(query, samples)
        promql.check_syntax(rendered)
    except promql.PromQLSyntaxError as error:
        line = error.position[0] if error.position else None
        yield Finding(
            path,
            f"PromQL syntax error: {error.parser_message}",
            "fix the query; try it in the Prometheus expression browser",
            value_line=line,
        )
        return
    except promql.PromQLError as error:
        yield Finding(path, str(error.args[0]), error.hint or "fix the query")
        return
    if histogram and not keeps_label(promql_parser.parse(rendered), "le"):
        yield Finding(
            path,
            "the buckets query does not keep the 'le' label, so the bucket counts are lost",
            "aggregate with 'sum by (le) (...)' (add other labels as needed) and do not "
            "wrap it in histogram_quantile(): the judge needs the buckets themselves",
        )


_LABEL_KEEPING_AGGREGATIONS = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})


def keeps_label(expr: object, label: str) -> bool:
    """Whether the result series of ``expr`` can still carry ``label``.

    A selector keeps every label; an aggregation keeps those in ``by`` (or all but those
    in ``without``); ``histogram_quantile`` consumes ``le``; other functions keep the
    labels of their vector argument; a binary operation keeps its vector side's labels.
    """
    if isinstance(expr, promql_parser.VectorSelector | promql_parser.MatrixSelector):
        return True
    if isinstance(expr, promql_parser.AggregateExpr):
        return _aggregation_keeps(expr, label)
    if isinstance(expr, promql_parser.Call):
        if expr.func.name == "histogram_quantile":
            return False
        return any(keeps_label(arg, label) for arg in expr.args)
    if isinstance(expr, promql_parser.BinaryExpr):
        if isinstance(expr.lhs, promql_parser.NumberLiteral):
            return keeps_label(expr.rhs, label)
        return keeps_label(expr.lhs, label)
    inner = getattr(expr, "expr", None)  # parentheses, unary minus, subqueries
    return inner is not None and keeps_label(inner, label)


def _aggregation_keeps(expr: promql_parser.AggregateExpr, label: str) -> bool:
    if str(expr.op) in _LABEL_KEEPING_AGGREGATIONS:
        return keeps_label(expr.expr, label)
    modifier = expr.modifier
    if modifier is None:
        return False
    labels = list(modifier.labels)
    if modifier.type == promql_parser.AggModifierType.By:
        return label in labels
    return label not in labels and keeps_label(expr.expr, label)
