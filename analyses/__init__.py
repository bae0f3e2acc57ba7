"""The library of ready analysis templates, shipped as package data (``*.yaml``).

Each ``<name>.yaml`` here is a complete AnalysisTemplate whose ``metadata.name`` is the
file's stem. This package only finds and reads the files (through
:mod:`importlib.resources`, so the library works the same from a wheel, a zip or an
editable install); :mod:`auspice.specs.library` loads them as templates, and a metric can
borrow one of theirs with ``use: <name>/<metric>`` (:mod:`auspice.specs.presets`).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["names", "source", "text"]

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
