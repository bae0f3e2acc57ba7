"""User-written documents: their models, their loading, and their problems.

Public API (the rest of the package is internal):

* models: :class:`AnalysisTemplate` and its parts (:class:`TemplateSpec`,
  :class:`CountsMetric`, :class:`HistogramMetric`, :class:`GaugeMetric`,
  :class:`ThresholdMetric`, :class:`KayentaMetric`, :class:`Arg`, :class:`Scope`);
* loading: :func:`load_template` / :func:`load_templates` (files), :func:`parse_template`
  (text), :func:`template_from_data` (a dict), and the generic :func:`load_file` /
  :func:`parse_text` that load any registered document kind into its model;
* errors: :class:`SpecError` (a :class:`~auspice.errors.ConfigError`) with
  ``problems``, a list of :class:`Problem` (file, line, column, field, message, hint);
* kinds: :func:`register_kind` with a :class:`DocumentKind`, used by ``auspice validate``;
* durations: :func:`parse_duration`, :func:`format_duration`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auspice.specs.checks import query_findings_of_raw, template_findings
from auspice.specs.durations import Duration, DurationError, format_duration, parse_duration
from auspice.specs.loader import (
    DocumentKind,
    load_file,
    model_from_data,
    parse_any,
    parse_text,
    register_kind,
    registered_kinds,
)
from auspice.specs.presets import resolve_presets
from auspice.specs.problems import Finding, Problem, SpecError
from auspice.specs.template import (
    API_VERSION,
    BUILTIN_PLACEHOLDERS,
    DEFAULT_QUANTILES,
    METRIC_KINDS,
    AnalysisTemplate,
    AnyMetric,
    Arg,
    CountsMetric,
    EffectSize,
    GaugeMetric,
    HistogramMetric,
    KayentaMetric,
    Metadata,
    Outliers,
    Scope,
    ScoreThresholds,
    TemplateSpec,
    ThresholdMetric,
)

__all__ = [
    "API_VERSION",
    "BUILTIN_PLACEHOLDERS",
    "DEFAULT_QUANTILES",
    "METRIC_KINDS",
    "AnalysisTemplate",
    "AnyMetric",
    "Arg",
    "CountsMetric",
    "DocumentKind",
    "Duration",
    "DurationError",
    "EffectSize",
    "Finding",
    "GaugeMetric",
    "HistogramMetric",
    "KayentaMetric",
    "Metadata",
    "Outliers",
    "Problem",
    "Scope",
    "ScoreThresholds",
    "SpecError",
    "TemplateSpec",
    "ThresholdMetric",
    "format_duration",
    "load_file",
    "load_template",
    "load_templates",
    "model_from_data",
    "parse_any",
    "parse_duration",
    "parse_template",
    "parse_text",
    "register_kind",
    "registered_kinds",
    "template_from_data",
]

ANALYSIS_TEMPLATE = DocumentKind(
    api_version=API_VERSION,
    kind="AnalysisTemplate",
    model=AnalysisTemplate,
    prepare=resolve_presets,
    check=template_findings,
    check_invalid=query_findings_of_raw,
)
register_kind(ANALYSIS_TEMPLATE)


def load_templates(path: str | Path) -> list[AnalysisTemplate]:
    """Every AnalysisTemplate in the (multi-document) YAML file at ``path``."""
    return load_file(path, AnalysisTemplate)


def load_template(path: str | Path) -> AnalysisTemplate:
    """The one AnalysisTemplate in ``path``; :class:`SpecError` if there are none or several."""
    return _one(load_templates(path), str(path))


def parse_template(text: str, *, source: str = "<string>") -> AnalysisTemplate:
    """The one AnalysisTemplate in YAML ``text``; ``source`` names it in errors."""
    return _one(parse_text(text, AnalysisTemplate, source=source), source)


def template_from_data(data: Any, *, source: str = "<data>") -> AnalysisTemplate:
    """An AnalysisTemplate from parsed data (e.g. JSON from the API), fully checked."""
    return model_from_data(data, AnalysisTemplate, source=source)


def _one(templates: list[AnalysisTemplate], source: str) -> AnalysisTemplate:
    if len(templates) != 1:
        problem = Problem(
            file=source,
            line=None,
            column=None,
            field="",
            message=f"expected exactly one AnalysisTemplate, found {len(templates)}",
            hint="put one template per file, or use load_templates() for several",
        )
        raise SpecError([problem])
    return templates[0]


# Every other kind of document users write registers itself on import, so that
# ``auspice validate`` and :func:`parse_any` know them all (RolloutPlan, the serve
# configuration, the tokens document, the cluster labels file).
from auspice.specs import clusters, plan, serve, tokens  # noqa: E402, F401
