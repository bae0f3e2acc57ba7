"""From a Kayenta metric and a scope to the PromQL Auspice sends, without injection.

Kayenta expands its query templates with FreeMarker: ``${scope}``, ``${location}`` and
the scope's ``extendedScopeParams`` are pasted into the text as they are, so a scope
value such as ``v2"} or vector(1) #`` rewrites the query.  Scope values arrive in HTTP
requests (Argo fills them from rollout arguments), so Auspice never pastes them:

1. the metric's query is first built as a *template* in Auspice's own placeholder
   syntax: every ``${name}`` becomes ``{{name}}``, and a query from ``metricName`` +
   filter + ``labelBindings`` is assembled around the template text, not around its
   expansion (so a value cannot smuggle in a ``PromQL:`` prefix or a new matcher);
2. the template is filled by :func:`auspice.metrics.promql.render`, which escapes each
   value for the lexical context its placeholder sits in (a label value is always a
   literal, even on the right of ``=~``) and refuses values that do not fit;
3. the result is parsed with promql-parser before anything is sent.

Only ``${name}`` interpolations are supported; any other FreeMarker syntax is refused
with a message, rather than half-understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from auspice.errors import InputError
from auspice.specs.promql import PromQLError, RenderError, check_syntax, render
from auspice.webhooks.kayenta.models import (
    CanaryConfig,
    ExecutionRequest,
    MetricConfig,
    PrometheusQuery,
    Scope,
)

__all__ = ["MetricQueries", "QueryError", "plan_queries", "query_template", "render_for_scope"]

PROMQL_PREFIX = "PromQL:"
#: Kayenta's default scope label for ``resourceType: gce_instance``.
GCE_SCOPE_LABEL = "instance"

_FREEMARKER_VARIABLE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_PLACEHOLDER_TEXT = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")
_FREEMARKER_OTHER = ("${", "#{", "<#", "</#", "<@", "</@", "[#", "[/#")


class QueryError(InputError):
    """A metric's query cannot be built or filled; ``field`` is the JSON path to blame."""

    def __init__(self, message: str, *, field: str, hint: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}", hint=hint)


@dataclass(frozen=True)
class MetricQueries:
    """The two queries of one metric, ready for ``query_range``."""

    index: int
    metric: MetricConfig
    control: str
    experiment: str
    control_scope: Scope
    experiment_scope: Scope


def _convert(text: str, *, field: str) -> str:
    """Kayenta template text -> Auspice template text (``${x}`` -> ``{{x}}``)."""
    text = text.replace("$\\{", "${")  # how Kayenta stores templates, undone as it does
    if "{{" in text:
        raise QueryError(
            "contains '{{', which Auspice reserves for its placeholders",
            field=field,
            hint="write the query without '{{'; placeholders are ${name}",
        )
    converted = _FREEMARKER_VARIABLE.sub(lambda match: "{{" + match.group(1) + "}}", text)
    for marker in _FREEMARKER_OTHER:
        if marker in converted:
            raise QueryError(
                f"uses FreeMarker syntax {marker!r} beyond plain ${{name}} variables",
                field=field,
                hint="only ${scope}, ${location} and ${extendedScopeParam} are supported",
            )
    return converted


def _template_text(config: CanaryConfig, query: PrometheusQuery, field: str) -> tuple[str, str]:
    """(template text, field it came from), or ("", "") when the query has none."""
    if query.custom_inline_template:
        return query.custom_inline_template, f"{field}.customInlineTemplate"
    if query.custom_filter_template:
        name = query.custom_filter_template
        if name not in config.templates:
            known = ", ".join(sorted(config.templates)) or "none"
            raise QueryError(
                f"custom filter template {name!r} is not defined (templates: {known})",
                field=f"{field}.customFilterTemplate",
            )
        return config.templates[name], f"templates.{name}"
    return "", ""


def _resource_filter(query: PrometheusQuery, field: str) -> str:
    """Kayenta's filters for ``resourceType`` (when the query has no template)."""
    kind = query.resource_type
    if kind == "aws_ec2_instance":
        return 'asg_groupName="{{scope}}",zone=~"{{location}}.{1}"'
    if kind == "gce_instance":
        label = query.scope_label or GCE_SCOPE_LABEL
        return f'{label}=~"{{{{scope}}}}-.{{4}}",zone=~".+/zones/{{{{location}}}}-.{{1}}"'
    if kind:
        raise QueryError(
            f"resourceType {kind!r} has no built-in filter",
            field=f"{field}.resourceType",
            hint="write the filter as customInlineTemplate, or the whole query as 'PromQL:...'",
        )
    raise QueryError(
        "the query needs customInlineTemplate, customFilterTemplate or resourceType",
        field=field,
    )


def query_template(config: CanaryConfig, index: int) -> str:
    """Metric ``index`` of ``config`` as an Auspice template (``{{name}}`` placeholders)."""
    metric = config.metrics[index]
    query = metric.query
    field = f"metrics[{index}].query"
    text, origin = _template_text(config, query, field)
    if text.startswith(PROMQL_PREFIX):
        return _convert(text[len(PROMQL_PREFIX) :], field=origin)
    matchers = _convert(text, field=origin) if text else _resource_filter(query, field)
    for position, binding in enumerate(query.label_bindings or []):
        matchers += "," + _convert(binding, field=f"{field}.labelBindings[{position}]")
    selector = f"avg({query.metric_name}{{{matchers}}})"
    if query.group_by_fields:
        selector += f" by ({','.join(query.group_by_fields)})"
    return selector


def scope_values(scope: Scope, query: PrometheusQuery) -> dict[str, str]:
    """The template variables of one scope, bound in Kayenta's order (later wins)."""
    values = {"scope": scope.scope} if scope.scope else {}
    if scope.where:
        values["location"] = scope.where
    if query.resource_type:
        values["resourceType"] = query.resource_type
    values.update(scope.extended_scope_params)
    return values


def _blame(placeholder: str, scope: Scope, side: str) -> str:
    if placeholder in scope.extended_scope_params:
        return f"{side}.extendedScopeParams.{placeholder}"
    if placeholder == "location" and scope.region and not scope.location:
        return f"{side}.region"
    return f"{side}.{placeholder}"


def render_for_scope(template: str, scope: Scope, query: PrometheusQuery, *, side: str) -> str:
    """Fill ``template`` for ``scope``; ``side`` is the scope's JSON path for errors."""
    values = scope_values(scope, query)
    try:
        rendered = render(template, values)
    except RenderError as error:
        if error.placeholder in values:
            field = _blame(error.placeholder, scope, side)
            message = _PLACEHOLDER_TEXT.sub(r"${\1}", str(error))  # in Kayenta's spelling
            raise QueryError(message, field=field) from None
        raise QueryError(
            f"the query uses ${{{error.placeholder}}}, which this scope does not define",
            field=_blame(error.placeholder, scope, side),
            hint="give it in the scope (scope, location) or in its extendedScopeParams",
        ) from None
    try:
        check_syntax(rendered)
    except PromQLError as error:
        raise QueryError(str(error), field=side) from None
    return rendered


def plan_queries(
    config: CanaryConfig, request: ExecutionRequest, *, scopes_field: str = "scopes"
) -> list[MetricQueries]:
    """Every metric's control and experiment query, or the first problem as QueryError."""
    missing = sorted({m.scope_name for m in config.metrics} - set(request.scopes))
    if missing:
        raise QueryError(
            f"the canary config's metrics need scopes {missing}, which the request lacks"
            f" (it has {sorted(request.scopes)})",
            field=scopes_field,
        )
    plans = []
    for index, metric in enumerate(config.metrics):
        template = query_template(config, index)
        pair = request.scopes[metric.scope_name]
        where = f"{scopes_field}.{metric.scope_name}"
        plans.append(
            MetricQueries(
                index=index,
                metric=metric,
                control=render_for_scope(
                    template, pair.control_scope, metric.query, side=f"{where}.controlScope"
                ),
                experiment=render_for_scope(
                    template, pair.experiment_scope, metric.query, side=f"{where}.experimentScope"
                ),
                control_scope=pair.control_scope,
                experiment_scope=pair.experiment_scope,
            )
        )
    return plans
