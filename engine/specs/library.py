"""The shipped library of templates (:mod:`auspice.analyses`) as specs.

:func:`load` gives a library template as a checked :class:`AnalysisTemplate`; :func:`raw`
its plain YAML data, which ``use: <template>/<metric>`` presets are merged from
(:mod:`.presets`); :func:`presets` every name a metric can ``use:``.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from auspice import analyses
from auspice.specs.yamlpos import load_yaml_text

if TYPE_CHECKING:
    from auspice.specs.template import AnalysisTemplate

__all__ = ["load", "names", "presets", "raw"]

names = analyses.names


@cache
def raw(name: str) -> dict[str, Any]:
    """Template ``name`` as plain YAML data (what ``use:`` presets are merged from)."""
    documents = load_yaml_text(analyses.text(name), source=analyses.source(name))
    data = documents[0].data
    if len(documents) != 1 or not isinstance(data, dict):
        raise ValueError(f"library template {analyses.source(name)} must hold exactly one "
                         "mapping")
    return data


def load(name: str) -> AnalysisTemplate:
    """Library template ``name`` as a validated :class:`~auspice.specs.AnalysisTemplate`
    (KeyError, naming the templates that exist, if there is none)."""
    from auspice.specs import parse_template  # the package's own loader, once it is built

    return parse_template(analyses.text(name), source=analyses.source(name))


def presets() -> list[str]:
    """Every ``<template>/<metric>`` that a metric can ``use:``."""
    return [f"{name}/{metric['name']}"
            for name in names() for metric in raw(name)["spec"]["metrics"]]
