"""Finding a template by the name a caller gives: templates given in code, the configured
directory, then the library.

A webhook body or a plan names a template (``istio``, ``checkout-latency``); it is looked
up among the templates given by name (a demo's, a test's), then in the configured
template directory, so a team can shadow a library template with its own, then in
:mod:`auspice.analyses`. Files are re-read when they change (by mtime and
size), so a ConfigMap update reaches the service without a restart. A name that is not
a plain template name is refused before any path is built from it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from auspice.errors import AuspiceError, ConfigError
from auspice.specs import AnalysisTemplate, library, load_templates

__all__ = ["TemplateDirectoryError", "TemplateResolver", "UnknownTemplateError"]

log = logging.getLogger("auspice.analysis.templates")

_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


class UnknownTemplateError(ConfigError):
    """No template of that name exists (HTTP 404)."""


class TemplateDirectoryError(AuspiceError):
    """The template directory cannot be loaded (a server-side problem, HTTP 500)."""


@dataclass(frozen=True)
class _Cached:
    signature: tuple[tuple[str, float, int], ...]
    templates: dict[str, AnalysisTemplate]


class TemplateResolver:
    """Templates by name: ``given`` ones, then ``directory`` (optional), then the library."""

    def __init__(self, directory: Path | None = None, *,
                 given: Mapping[str, AnalysisTemplate] | None = None) -> None:
        self.directory = directory
        self.given = dict(given or {})
        self._cache: _Cached | None = None
        self._library: dict[str, AnalysisTemplate] = {}

    def names(self) -> list[str]:
        return sorted({*self.given, *self._directory_templates(), *library.names()})

    def get(self, name: str) -> AnalysisTemplate:
        """The template ``name``; :class:`UnknownTemplateError` if there is none."""
        if not _NAME.fullmatch(name):
            raise UnknownTemplateError(
                f"template name {name!r} is not a valid name",
                hint="template names are lower-case letters, digits, '-' and '.'")
        if name in self.given:
            return self.given[name]
        own = self._directory_templates()
        if name in own:
            return own[name]
        if name in library.names():
            if name not in self._library:  # parsing and checking a template takes ms
                self._library[name] = library.load(name)
            return self._library[name]
        raise UnknownTemplateError(f"no template named {name!r}",
                                   hint=f"known templates: {', '.join(self.names())}")

    def _directory_templates(self) -> dict[str, AnalysisTemplate]:
        if self.directory is None:
            return {}
        files = sorted(p for pattern in ("*.yaml", "*.yml")
                       for p in self.directory.glob(pattern) if p.is_file())
        signature = tuple((str(p), p.stat().st_mtime, p.stat().st_size) for p in files)
        if self._cache is None or self._cache.signature != signature:
            try:
                templates = {t.name: t for path in files for t in load_templates(path)}
            except ConfigError as error:
                if self._cache is None:
                    raise TemplateDirectoryError(
                        f"template directory {self.directory}: {error}") from error
                # A broken edit must not take working templates away: keep the last good
                # set until the files are fixed, and say so in the log (once per change).
                log.error("template directory change not applied: %s", error,
                          extra={"event": "templates.invalid"})
                self._cache = _Cached(signature, self._cache.templates)
                return self._cache.templates
            self._cache = _Cached(signature, templates)
        return self._cache.templates
