"""The library of ready analysis templates, shipped as package data (``*.yaml``).

Each ``<name>.yaml`` here is a complete AnalysisTemplate whose ``metadata.name`` is the
file's stem. A template can be used as it is (:func:`load`), or its metrics borrowed
one by one from another template with ``use: <name>/<metric>`` (see
:mod:`auspice.specs.presets`). Files are read through :mod:`importlib.resources`, so the
library works the same from a wheel, a zip or an editable install.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from auspice.specs import AnalysisTemplate

__all__ = ["load", "names", "presets", "raw", "text"]

_SUFFIX = ".yaml"


@cache
def names() -> tuple[str, ...]:
    """Names of the library's templates, sorted."""
    root = resources.files(__name__)
    return tuple(
        sorted(
            entry.name.removesuffix(_SUFFIX)
            for entry in root.iterdir()
            if entry.name.endswith(_SUFFIX) and entry.is_file()
        )
    )


def text(name: str) -> str:
    """The YAML text of template ``name``; KeyError names the templates that exist."""
    if name not in names():
        raise KeyError(f"no library template {name!r}; known: {', '.join(names())}")
    return resources.files(__name__).joinpath(name + _SUFFIX).read_text(encoding="utf-8")


def source(name: str) -> str:
    """How errors name the file of template ``name``."""
    return f"analyses/{name}{_SUFFIX}"


@cache
def raw(name: str) -> dict[str, Any]:
    """Template ``name`` as plain YAML data (what ``use:`` presets are merged from)."""
    from auspice.specs.yamlpos import load_yaml_text

    documents = load_yaml_text(text(name), source=source(name))
    data = documents[0].data
    if len(documents) != 1 or not isinstance(data, dict):
        raise ValueError(f"library template {source(name)} must hold exactly one mapping")
    return data


def load(name: str) -> AnalysisTemplate:
    """Library template ``name`` as a validated :class:`~auspice.specs.AnalysisTemplate`."""
    from auspice.specs import parse_template

    return parse_template(text(name), source=source(name))


def presets() -> list[str]:
    """Every ``<template>/<metric>`` that a metric can ``use:``."""
    return [
        f"{name}/{metric['name']}" for name in names() for metric in raw(name)["spec"]["metrics"]
    ]
