"""``use: istio/error-rate``: metrics borrowed from the template library.

Most teams measure the same few things (Istio error rate and latency, CPU, memory), so a
metric may name a library preset as ``<template>/<metric>`` and write only what differs:

.. code-block:: yaml

    metrics:
      - use: istio/error-rate      # queries, kind and tolerance from analyses/istio.yaml
        tolerance: 1.5             # any field given here replaces the preset's

Resolution happens on the raw YAML data before validation: the preset's metric mapping
is merged under the user's (nested mappings merge key by key), its ``name`` is kept
unless the user gives one, and the preset template's arguments that the metric's
queries use are added to the user's ``spec.args`` unless the user defines them. The
resolved metric keeps ``use`` so its origin stays visible.
"""

from __future__ import annotations

import copy
from typing import Any

from auspice.specs import library, promql
from auspice.specs.problems import Finding

QUERY_FIELDS = ("events", "total", "buckets", "query")


def resolve_presets(data: dict[str, Any]) -> tuple[dict[str, Any], list[Finding]]:
    """``data`` with every ``use:`` metric merged with its preset, and what went wrong."""
    spec = data.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("metrics"), list):
        return data, []
    resolved = copy.deepcopy(data)
    findings: list[Finding] = []
    added_args: list[dict[str, Any]] = []
    metrics = resolved["spec"]["metrics"]
    for index, metric in enumerate(metrics):
        if isinstance(metric, dict) and "use" in metric:
            merged, args, problems = _resolve(metric, index)
            metrics[index] = merged
            added_args.extend(args)
            findings.extend(problems)
    if added_args:
        _add_args(resolved["spec"], added_args)
    return resolved, findings


def _resolve(
    metric: dict[str, Any], index: int
) -> tuple[dict[str, Any], list[dict[str, Any]], list[Finding]]:
    path = ("spec", "metrics", index, "use")
    use = metric["use"]
    template_name, _, metric_name = use.partition("/") if isinstance(use, str) else ("", "", "")
    available = ", ".join(library.presets())
    if template_name not in library.names():
        return metric, [], [_unknown(use, path, available)]
    source = library.raw(template_name)
    preset = next((m for m in source["spec"]["metrics"] if m.get("name") == metric_name), None)
    if preset is None:
        return metric, [], [_unknown(use, path, available)]
    findings: list[Finding] = []
    if "kind" in metric and metric["kind"] != preset["kind"]:
        findings.append(
            Finding(
                ("spec", "metrics", index, "kind"),
                f"kind {metric['kind']!r} differs from the preset {use}'s kind {preset['kind']!r}",
                "remove 'kind:' (it comes from the preset) or drop 'use:' and write the metric",
            )
        )
    merged = _merge(preset, {key: value for key, value in metric.items() if key != "use"})
    merged["use"] = use
    return merged, _used_args(merged, source), findings


def _unknown(use: object, path: tuple[str | int, ...], available: str) -> Finding:
    return Finding(
        path,
        f"unknown library preset {use!r}",
        f"write 'use: <template>/<metric>', one of: {available}",
    )


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _used_args(metric: dict[str, Any], source: dict[str, Any]) -> list[dict[str, Any]]:
    names: set[str] = set()
    for field in QUERY_FIELDS:
        if isinstance(metric.get(field), str):
            names |= promql.placeholders(metric[field])
    return [copy.deepcopy(arg) for arg in source["spec"].get("args", []) if arg["name"] in names]


def _add_args(spec: dict[str, Any], added: list[dict[str, Any]]) -> None:
    args = spec.get("args")
    if args is None:
        args = spec["args"] = []
    if not isinstance(args, list):
        return  # pydantic will report the malformed args where the user wrote them
    defined = {arg.get("name") for arg in args if isinstance(arg, dict)}
    for arg in added:
        if arg["name"] not in defined:
            args.append(arg)
            defined.add(arg["name"])
