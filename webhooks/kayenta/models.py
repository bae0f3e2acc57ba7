"""Kayenta's JSON, as pydantic models: canary configs, execution requests, results.

Spinnaker users and Argo Rollouts' ``kayenta`` metric provider already speak Kayenta's
REST dialect, so Auspice accepts it as it is: a canary config exported from Kayenta
(``GET /canaryConfig/{id}``) loads unchanged, and the answers carry Kayenta's field
names (``canaryExecutionId``, ``complete``, ``result.judgeResult.score.score``...).

Requests are closed (``extra="forbid"``), so a typo is a 400 naming the field instead
of a silent default, with three deliberate allowances for what real clients send:

* ``serviceType`` in a query: Kayenta serialises it from a getter, so every exported
  config has it;
* ``region`` in a scope: Argo Rollouts' ``ScopeDetail`` (and old Kayenta) spell the
  location that way and always send it, empty when unset;
* ``metadata`` / ``siteLocal`` in an execution request: Spinnaker's stage sends them.

Only Prometheus queries are modelled: Auspice's metrics come from Prometheus/Thanos.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "DEFAULT_JUDGE",
    "DEFAULT_SCOPE_NAME",
    "AdhocExecutionRequest",
    "CanaryConfig",
    "ClassifierConfig",
    "ExecutionRequest",
    "JudgeConfig",
    "MetadataEntry",
    "MetricConfig",
    "PrometheusQuery",
    "Scope",
    "ScopePair",
    "Thresholds",
]

DEFAULT_JUDGE = "NetflixACAJudge-v1.0"
DEFAULT_SCOPE_NAME = "default"
#: Kayenta's rule for config names (CanaryConfigController).
CONFIG_NAME_PATTERN = r"^[A-Za-z0-9_\-]+$"


class KayentaModel(BaseModel):
    """Closed, immutable, camelCase on the wire (snake_case attributes in Python)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
    )

    def wire(self) -> dict[str, Any]:
        """The model as Kayenta JSON: camelCase keys, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --------------------------------------------------------------------------- configs


class PrometheusQuery(KayentaModel):
    """Kayenta's ``PrometheusCanaryMetricSetQueryConfig``.

    The query is either a whole PromQL expression (a template starting ``PromQL:``) or
    ``avg(metricName{filter,labelBindings...}) by (groupByFields)``, where the filter is
    the expanded template or, without one, derived from ``resourceType``.
    """

    type: Literal["prometheus"]
    service_type: Literal["prometheus"] | None = None
    metric_name: str | None = None
    resource_type: str | None = None
    label_bindings: list[str] | None = None
    group_by_fields: list[str] | None = None
    scope_label: str | None = None
    location_label: str | None = None
    functions: list[str] | None = None
    """Accepted because Kayenta's model has it; Kayenta's query builder ignores it too."""
    custom_filter: str | None = None
    custom_inline_template: str | None = None
    custom_filter_template: str | None = None

    @field_validator("custom_filter")
    @classmethod
    def _deprecated(cls, value: str | None) -> str | None:
        if value:
            raise ValueError("customFilter is deprecated in Kayenta: use customInlineTemplate")
        return value


class MetricConfig(KayentaModel):
    """One metric of a canary config (Kayenta's ``CanaryMetricConfig``)."""

    name: Annotated[str, Field(min_length=1)]
    query: PrometheusQuery
    groups: Annotated[list[str], Field(min_length=1)]
    analysis_configurations: dict[str, dict[str, Any]] = Field(default_factory=dict)
    scope_name: str = DEFAULT_SCOPE_NAME
    service_name: str | None = None
    """Old (2017) configs name a service here; accepted and unused."""

    @property
    def canary_settings(self) -> dict[str, Any]:
        """``analysisConfigurations.canary``: the classifier settings, camelCase."""
        return dict(self.analysis_configurations.get("canary") or {})

    @model_validator(mode="after")
    def _query_has_a_source(self) -> MetricConfig:
        q = self.query
        if q.custom_inline_template and q.custom_inline_template.startswith("PromQL:"):
            return self
        if not q.metric_name:
            raise ValueError(
                "query.metricName is required unless query.customInlineTemplate is a whole"
                " 'PromQL:...' expression"
            )
        return self


class Thresholds(KayentaModel):
    """``pass`` and ``marginal`` on the 0-100 canary score."""

    pass_: Annotated[float, Field(alias="pass", ge=0, le=100)]
    marginal: Annotated[float, Field(ge=0, le=100)]

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.marginal > self.pass_:
            raise ValueError(f"marginal ({self.marginal:g}) is above pass ({self.pass_:g})")
        return self


class ClassifierConfig(KayentaModel):
    group_weights: dict[str, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    score_thresholds: Thresholds | None = None

    @field_validator("group_weights")
    @classmethod
    def _at_most_100(cls, weights: dict[str, float]) -> dict[str, float]:
        total = sum(weights.values())
        if total > 100 + 1e-9:
            raise ValueError(f"group weights add up to {total:g}, more than 100")
        return weights


class JudgeConfig(KayentaModel):
    name: str = DEFAULT_JUDGE
    judge_configurations: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _netflix_judge(cls, name: str) -> str:
        if not name.startswith("NetflixACAJudge"):
            raise ValueError(f"judge {name!r} is not available; Auspice implements {DEFAULT_JUDGE}")
        return name


class CanaryConfig(KayentaModel):
    """A Kayenta canary config, as stored by Kayenta and exported from Spinnaker."""

    id: str | None = None
    name: Annotated[str, Field(pattern=CONFIG_NAME_PATTERN)]
    description: str | None = None
    config_version: str | None = None
    applications: Annotated[list[str], Field(min_length=1)]
    created_timestamp: int | None = None
    updated_timestamp: int | None = None
    created_timestamp_iso: str | None = None
    updated_timestamp_iso: str | None = None
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    metrics: Annotated[list[MetricConfig], Field(min_length=1)]
    templates: dict[str, str] = Field(default_factory=dict)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)

    @field_validator("config_version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # Kayenta's own examples write it as a number (1.0) or a string ("1").
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _metric_names_unique(self) -> CanaryConfig:
        seen: set[str] = set()
        for metric in self.metrics:
            if metric.name in seen:
                raise ValueError(f"two metrics are named {metric.name!r}; names must differ")
            seen.add(metric.name)
        return self

    def summary(self, config_id: str) -> dict[str, Any]:
        """The entry ``GET /canaryConfig`` lists (what Argo's provider decodes)."""
        entry: dict[str, Any] = {"id": config_id, "name": self.name}
        if self.updated_timestamp is not None:
            entry["updatedTimestamp"] = self.updated_timestamp
        if self.updated_timestamp_iso is not None:
            entry["updatedTimestampIso"] = self.updated_timestamp_iso
        entry["applications"] = list(self.applications)
        return entry


# ------------------------------------------------------------------ execution requests


def _instant(value: Any) -> Any:
    """Kayenta's ``Instant``: ISO-8601 text with a zone (``Z`` or an offset)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"{value!r} is not an ISO-8601 instant such as 2026-01-01T00:00:00Z"
            ) from None
    else:
        raise ValueError("expected an ISO-8601 instant such as 2026-01-01T00:00:00Z")
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone; add Z (UTC) or an offset such as +02:00")
    return moment


class Scope(KayentaModel):
    """One side of a comparison: Kayenta's ``CanaryScope``.

    ``scope`` and ``location`` fill the ``${scope}`` and ``${location}`` template
    variables, ``extendedScopeParams`` any others.  ``step`` is in seconds.
    """

    scope: str
    location: str | None = None
    region: str | None = None
    """Argo Rollouts' and old Kayenta's name for ``location``."""
    start: datetime
    end: datetime
    step: Annotated[int, Field(gt=0)]
    extended_scope_params: dict[str, str] = Field(default_factory=dict)

    _parse_times = field_validator("start", "end", mode="before")(_instant)

    @model_validator(mode="after")
    def _window(self) -> Scope:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end.isoformat()}) is not after start")
        if self.location and self.region and self.location != self.region:
            raise ValueError(
                f"location {self.location!r} and region {self.region!r} differ; give one"
            )
        return self

    @property
    def where(self) -> str | None:
        """The location, whichever spelling the client used; None when empty."""
        return self.location or self.region or None

    @property
    def start_seconds(self) -> float:
        return self.start.timestamp()

    @property
    def end_seconds(self) -> float:
        return self.end.timestamp()

    @property
    def points(self) -> int:
        return math.floor((self.end_seconds - self.start_seconds) / self.step) + 1


class ScopePair(KayentaModel):
    control_scope: Scope
    experiment_scope: Scope


class MetadataEntry(KayentaModel):
    name: str
    value: str | None = None
    hidden: bool = False


class ExecutionRequest(KayentaModel):
    """``POST /canary/{configId}`` body: Kayenta's ``CanaryExecutionRequest``."""

    scopes: Annotated[dict[str, ScopePair], Field(min_length=1)]
    thresholds: Thresholds | None = None
    metadata: list[MetadataEntry] | None = None
    site_local: dict[str, Any] | None = None


class AdhocExecutionRequest(KayentaModel):
    """``POST /canary`` body: a config and an execution request in one."""

    canary_config: CanaryConfig
    execution_request: ExecutionRequest
