"""The one error hierarchy of Auspice.

Every error a user can see derives from :class:`AuspiceError` and says three things:
what was wrong, where (file:line, field, cluster, query, request) and what to do.
Modules raise the most specific class that fits and put the location into the
message, so a command line or an HTTP answer can print ``str(error)`` as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class AuspiceError(Exception):
    """Base of every error Auspice raises on purpose."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(AuspiceError):
    """A user-written document (template, plan, inventory, config) is invalid."""


class InputError(AuspiceError):
    """Data handed to a judge or an API cannot be used as it is (negative counts, NaN...)."""


class SourceError(AuspiceError):
    """A metrics source failed to answer a query usefully; the look is failed, never passed."""


class ClusterError(AuspiceError):
    """A Kubernetes cluster could not be read or written."""


class GitOpsError(AuspiceError):
    """The release commit could not be reverted and pushed."""


def one_line(error: ValidationError, *, whole: str = "(value)") -> str:
    """A pydantic error's every problem as ``field.path: message``, joined on one line, for
    errors about input that has no file lines (command-line options, an API field, a
    computed model); ``whole`` names a problem with the value itself rather than a field.
    Errors about a file have their own findings with line numbers
    (:mod:`auspice.specs.pydantic_errors`)."""
    return "; ".join(f"{'.'.join(str(part) for part in e['loc']) or whole}: {e['msg']}"
                     for e in error.errors(include_url=False))
