"""What is wrong with a document, where, and how to fix it.

A :class:`Finding` is a mistake found in the *data* (a path such as
``spec.metrics[0].tolerance``, a message, a fix); a :class:`Problem` is the same mistake
placed in a *file* (``file:line:column``). Checks produce findings, the loader places
them, and :class:`SpecError` carries every problem of a load at once, so that one run of
``auspice validate`` shows all the mistakes rather than the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auspice.errors import ConfigError

if TYPE_CHECKING:
    from auspice.specs.yamlpos import Position


@dataclass(frozen=True, slots=True)
class Finding:
    """A mistake at ``path`` inside a document, not yet placed in a file."""

    path: tuple[str | int, ...]
    message: str
    hint: str
    position: Position | None = None  # overrides the path's own position when set
    value_line: int | None = None  # 1-based line inside a multi-line value (a query)


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in one file, ready to print.

    ``line`` and ``column`` are 1-based and ``None`` only when the file could not be
    read at all. ``field`` is the dotted path (``spec.metrics[1].buckets``), empty for
    the document as a whole.
    """

    file: str
    line: int | None
    column: int | None
    field: str
    message: str
    hint: str

    @property
    def where(self) -> str:
        if self.line is None:
            return self.file
        return (
            f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"
        )

    def __str__(self) -> str:
        field = f" {self.field}:" if self.field else ""
        return f"{self.where}:{field} {self.message} (fix: {self.hint})"

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape used by ``auspice validate --json``."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
            "hint": self.hint,
        }


class SpecError(ConfigError):
    """A document could not be loaded; ``problems`` lists every mistake found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} found"
        body = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{head}:\n{body}" if body else head)
