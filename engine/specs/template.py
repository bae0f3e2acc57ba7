"""The AnalysisTemplate document: what to measure and how strictly to judge it.

A template is reusable across services: its PromQL holds ``{{placeholders}}`` that two
*scopes*, canary and baseline, fill with the same names (``version``, ``workload``,
``namespace``, ``cluster``, ``interval``, plus the template's own ``args``). Each metric's
``kind`` picks the judge (docs/judges.md):

=============  ==========================================================  ===========
kind           what the queries return, per scope and look                judge
=============  ==========================================================  ===========
``counts``     ``events`` and ``total`` increases over the interval        CountTest
``histogram``  cumulative bucket increases ``by (le)``                     HistogramTest
``gauge``      one value (CPU per request, memory...)                      GaugeTest
``threshold``  one canary value checked against fixed ``min``/``max``     fixed bound
``kayenta``    one value; the series are compared like Kayenta does        Mann-Whitney
=============  ==========================================================  ===========

Every default here is a documented default (docs/templates.md); settings that decide a
verdict and have no sensible default (``tolerance`` of counts, histogram and ratio
gauges) are required. The models check one field at a time; rules that relate fields
(durations against each other, placeholders against args, PromQL syntax) live in
:mod:`auspice.specs.checks`, which every loader runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from auspice.errors import ConfigError
from auspice.specs.base import Identifier, MetricName, ObjectName, UserModel, bounded, reject
from auspice.specs.durations import Duration, DurationError, format_duration, parse_duration

API_VERSION = "auspice.dev/v1alpha1"
KIND = "AnalysisTemplate"

#: Placeholders every scope fills; templates add their own through ``spec.args``.
BUILTIN_PLACEHOLDERS = frozenset({"version", "workload", "namespace", "cluster", "interval"})

Alpha = bounded(
    float,
    low=0.0,
    high=1.0,
    inclusive=False,
    what="alpha",
    hint="alpha is a false-alarm probability strictly between 0 and 1, e.g. 0.05",
)
Ratio = bounded(
    float,
    low=1.0,
    what="tolerance",
    hint="for an increase check the tolerance is the allowed ratio canary/baseline, "
    "at least 1 (1.0 = no worse at all, 1.5 = up to 50% worse)",
)
Weight = bounded(float, low=0.0, what="weight", hint="a weight is a number >= 0")
Looks = bounded(int, low=0, what="the number of looks", hint="give a whole number >= 0")
Probability = bounded(
    float,
    low=0.0,
    high=1.0,
    inclusive=False,
    what="the value",
    hint="give a number strictly between 0 and 1, e.g. 0.99",
)
Percent = bounded(float, low=0.0, high=100.0, what="the score", hint="scores go from 0 to 100")
Margin = bounded(float, low=0.0, what="margin", hint="a margin is >= 0, in the query's unit")
BatchSize = bounded(int, low=1, what="batchSize", hint="batch at least 1 look; 10 is a good start")
OutlierFactor = bounded(
    float, low=0.0, what="outlierFactor", hint="the IQR factor is >= 0; Kayenta uses 3"
)
KayentaTolerance = bounded(
    float,
    low=0.0,
    what="tolerance",
    hint="Kayenta's tolerance is a fraction >= 0 of the estimate, e.g. 0.25",
)


def _query_text(value: str) -> str:
    if not value.strip():
        reject("the query is empty", "write the PromQL query, with {{placeholders}} for scopes")
    return value


#: PromQL with ``{{placeholders}}``.
Query = Annotated[str, AfterValidator(_query_text)]


class Metadata(UserModel):
    """Kubernetes-style metadata; only ``name`` is required."""

    name: ObjectName
    namespace: ObjectName | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as error:
        reject(f"pattern {value!r} is not a valid regular expression: {error}", "fix the regex")
    return value


def _arg_text(value: str | int | float) -> str:
    return value if isinstance(value, str) else repr(value)


ArgType = Literal["string", "identifier", "duration", "number"]

_ARG_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    "identifier": (re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*"), "a label or metric name"),
    "number": (re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?"), "an unsigned number"),
}


class Arg(UserModel):
    """A template argument: a placeholder name the caller may (or must) fill."""

    name: Identifier
    default: Annotated[str | int | float, AfterValidator(_arg_text)] | None = None
    description: str | None = None
    type: ArgType = "string"
    pattern: Annotated[str, AfterValidator(_regex)] | None = None

    def problem_with(self, value: str) -> str | None:
        """Why ``value`` is not acceptable for this argument, or None."""
        if self.type == "duration":
            try:
                parse_duration(value)
            except DurationError as error:
                return str(error)
        elif self.type in _ARG_SHAPES:
            shape, what = _ARG_SHAPES[self.type]
            if not shape.fullmatch(value):
                return f"{value!r} is not {what}"
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return f"{value!r} does not match the pattern {self.pattern!r}"
        return None


class _Metric(UserModel):
    """Fields every metric kind has."""

    name: MetricName
    description: str | None = None
    use: str | None = None  # the library preset this metric came from ("istio/error-rate")
    weight: Weight = 1.0
    critical: bool = True  # a rejection fails the analysis (Kayenta metrics: False)
    no_data_limit: Looks | None = None

    def queries(self) -> dict[str, str]:
        """The metric's query templates by role (``events``/``total``, ``buckets``, ``query``)."""
        raise NotImplementedError


class CountsMetric(_Metric):
    """Bad events against all events (errors/requests), judged by CountTest."""

    kind: Literal["counts"]
    events: Query
    total: Query
    direction: Literal["increase"] = "increase"
    tolerance: Ratio
    burst_robust: bool = False

    def queries(self) -> dict[str, str]:
        return {"events": self.events, "total": self.total}

    @property
    def test_mode(self) -> Literal["binomial", "burst"]:
        """The ``mode`` argument of :class:`auspice.stats.CountTest`."""
        return "burst" if self.burst_robust else "binomial"


class HistogramMetric(_Metric):
    """Latency-like histograms: requests slower than chosen bucket boundaries."""

    kind: Literal["histogram"]
    buckets: Query
    direction: Literal["increase"] = "increase"
    tolerance: Ratio
    quantiles: list[Probability] | None = Field(default=None, min_length=1)
    boundaries: list[Annotated[float, Field(gt=0)]] | None = Field(default=None, min_length=1)
    reference_window: Duration = 3600.0
    burst_robust: bool = False

    def queries(self) -> dict[str, str]:
        return {"buckets": self.buckets}

    @property
    def test_mode(self) -> Literal["binomial", "burst"]:
        """The ``mode`` argument of :class:`auspice.stats.HistogramTest`."""
        return "burst" if self.burst_robust else "binomial"

    @property
    def effective_quantiles(self) -> tuple[float, ...]:
        """Quantiles of the baseline used to pick boundaries (default p50, p90, p99).

        Empty when fixed ``boundaries`` are given instead.
        """
        if self.boundaries is not None:
            return ()
        return tuple(self.quantiles) if self.quantiles is not None else DEFAULT_QUANTILES


DEFAULT_QUANTILES = (0.5, 0.9, 0.99)

Direction = Literal["increase", "decrease", "either"]


class GaugeMetric(_Metric):
    """One value per scope and look, compared as a ratio or a difference (GaugeTest)."""

    kind: Literal["gauge"]
    query: Query
    direction: Direction = "increase"
    mode: Literal["ratio", "difference"] = "ratio"
    tolerance: Ratio | None = None
    margin: Margin | None = None
    batch_size: BatchSize = 10

    def queries(self) -> dict[str, str]:
        return {"query": self.query}

    @property
    def compare(self) -> Literal["log_ratio", "difference"]:
        """The ``compare`` argument of :class:`auspice.stats.GaugeTest`."""
        return "log_ratio" if self.mode == "ratio" else "difference"

    @property
    def test_margin(self) -> float:
        """The ``margin`` of :class:`auspice.stats.GaugeTest`: log(tolerance) or the margin."""
        if self.mode == "ratio":
            if self.tolerance is None:
                raise ConfigError(f"gauge {self.name!r} in ratio mode has no tolerance")
            return math.log(self.tolerance)
        if self.margin is None:
            raise ConfigError(f"gauge {self.name!r} in difference mode has no margin")
        return self.margin


class ThresholdMetric(_Metric):
    """Flagger-style fixed bounds on the canary's own value; the baseline is not queried."""

    kind: Literal["threshold"]
    query: Query
    minimum: float | None = Field(default=None, alias="min")
    maximum: float | None = Field(default=None, alias="max")
    failure_limit: Looks = 0

    def queries(self) -> dict[str, str]:
        return {"query": self.query}


class EffectSize(UserModel):
    """Kayenta's effect-size gates (``effectSize`` in the metric's canary config).

    A gate left out takes Kayenta's default for the measure: 1.0 for ``meanRatio``,
    0.5 for ``cles`` (where 0.5 means "no effect"); :meth:`gates` resolves them.
    """

    measure: Literal["meanRatio", "cles"] = "meanRatio"
    allowed_increase: float | None = None
    allowed_decrease: float | None = None
    critical_increase: float | None = None
    critical_decrease: float | None = None

    def gates(self) -> dict[str, float]:
        """``allowed_increase``... with defaults filled in for the measure."""
        neutral = 1.0 if self.measure == "meanRatio" else 0.5
        names = ("allowed_increase", "allowed_decrease", "critical_increase", "critical_decrease")
        return {
            name: value if (value := getattr(self, name)) is not None else neutral for name in names
        }


class Outliers(UserModel):
    """Kayenta's outlier handling: keep (default) or remove points beyond IQR fences."""

    strategy: Literal["keep", "remove"] = "keep"
    outlier_factor: OutlierFactor = 3.0


class KayentaMetric(_Metric):
    """Kayenta's Mann-Whitney classifier on the canary and baseline series."""

    kind: Literal["kayenta"]
    query: Query
    critical: bool = False  # as in Kayenta: a High/Low only lowers the score
    direction: Direction = "either"
    tolerance: KayentaTolerance = 0.25
    confidence: Probability = 0.98
    must_have_data: bool = False
    nan_strategy: Literal["remove", "replace"] = "remove"
    effect_size: EffectSize = Field(default_factory=EffectSize)
    outliers: Outliers = Field(default_factory=Outliers)

    def queries(self) -> dict[str, str]:
        return {"query": self.query}


Metric = Annotated[
    CountsMetric | HistogramMetric | GaugeMetric | ThresholdMetric | KayentaMetric,
    Field(discriminator="kind"),
]
AnyMetric = CountsMetric | HistogramMetric | GaugeMetric | ThresholdMetric | KayentaMetric
METRIC_KINDS = ("counts", "histogram", "gauge", "threshold", "kayenta")


class ScoreThresholds(UserModel):
    """Weighted score (0-100) of the non-critical metrics: pass at or above ``pass``."""

    pass_: Percent = Field(default=95.0, alias="pass")
    marginal: Percent = 75.0


class TemplateSpec(UserModel):
    description: str | None = None
    alpha: Alpha = 0.05
    interval: Duration = 60.0
    min_duration: Duration = 600.0
    max_duration: Duration = 3600.0
    no_data_limit: Looks = 5
    score_thresholds: ScoreThresholds = Field(default_factory=ScoreThresholds)
    args: list[Arg] = Field(default_factory=list)
    metrics: list[Metric] = Field(min_length=1)


class Scope(UserModel):
    """What one side (canary or baseline) fills into the placeholders.

    A field left as None is simply not offered; a query that needs it fails to render
    with a message naming the placeholder.
    """

    version: str | None = None
    workload: str | None = None
    namespace: str | None = None
    cluster: str | None = None


class AnalysisTemplate(UserModel):
    api_version: Literal["auspice.dev/v1alpha1"]
    kind: Literal["AnalysisTemplate"]
    metadata: Metadata
    spec: TemplateSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    def metric(self, name: str) -> AnyMetric:
        for metric in self.spec.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)

    def no_data_limit(self, metric: _Metric) -> int:
        """The metric's own no-data limit, or the template's."""
        return metric.no_data_limit if metric.no_data_limit is not None else self.spec.no_data_limit

    def arg_values(self, given: Mapping[str, str] | None = None) -> dict[str, str]:
        """Values of the template's args: ``given`` over defaults, each checked.

        Raises :class:`ConfigError` for an unknown name, a missing value without a
        default, or a value that does not fit the arg's type or pattern.
        """
        given = dict(given or {})
        known = {arg.name: arg for arg in self.spec.args}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ConfigError(
                f"template {self.name!r} has no argument(s) {', '.join(unknown)}",
                hint=f"its arguments are: {', '.join(sorted(known)) or 'none'}",
            )
        values: dict[str, str] = {}
        for name, arg in known.items():
            value = given.get(name, arg.default)
            if value is None:
                raise ConfigError(
                    f"template {self.name!r} needs a value for argument {name!r}",
                    hint=f"pass {name}=VALUE"
                    + (f" ({arg.description})" if arg.description else ""),
                )
            problem = arg.problem_with(value)
            if problem:
                raise ConfigError(
                    f"argument {name!r} of template {self.name!r}: {problem}",
                    hint="pass a value that fits the argument's type and pattern",
                )
            values[name] = value
        return values

    def placeholder_values(
        self, scope: Scope, *, args: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """Everything a query of this template may use for ``scope``: built-ins and args."""
        values = self.arg_values(args)
        values.update(
            {key: value for key, value in scope.model_dump().items() if value is not None}
        )
        values["interval"] = format_duration(self.spec.interval)
        return values
