"""Checking user documents before they reach production (``auspice validate FILE...``).

Paths may be files or directories (searched recursively for ``*.yaml`` and ``*.yml``).
Every document of every file is loaded as the kind it declares (see
:func:`auspice.specs.register_kind`), so plans and inventories are checked by the same
command as soon as their kinds are registered. The result is the full list of problems,
each with file, line, column, field, message and fix; the command line
(:mod:`auspice.cli.validate`) prints them and exits 1 when there is any.

A path that does not exist, or a directory without any YAML file, is itself a problem:
a validation that checked nothing must not look like a validation that passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from auspice import specs
from auspice.specs import Problem, SpecError
from auspice.specs.yamlpos import load_yaml_file

__all__ = ["Checked", "Report", "format_problems", "validate", "validate_report"]

_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class Checked:
    """One document that was looked at: where, what kind, which name."""

    file: str
    document: int
    kind: str | None
    name: str | None
    ok: bool


@dataclass(slots=True)
class Report:
    """Everything ``auspice validate`` found: the problems and the documents checked."""

    problems: list[Problem] = field(default_factory=list)
    documents: list[Checked] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        """The JSON shape for ``auspice validate --json``."""
        return {
            "ok": self.ok,
            "problems": [problem.as_dict() for problem in self.problems],
            "documents": [
                {"file": d.file, "document": d.document, "kind": d.kind, "name": d.name, "ok": d.ok}
                for d in self.documents
            ],
        }


def validate(paths: Iterable[str | Path]) -> list[Problem]:
    """All problems in the documents under ``paths``; an empty list means all valid."""
    return validate_report(paths).problems


def validate_report(paths: Iterable[str | Path]) -> Report:
    """Like :func:`validate`, also listing each document checked."""
    report = Report()
    for path in _files(paths, report):
        _validate_file(path, report)
    return report


def format_problems(problems: Iterable[Problem]) -> str:
    """One problem per line: ``file:line:col: field: message (fix: hint)``."""
    return "\n".join(str(problem) for problem in problems)


def _files(paths: Iterable[str | Path], report: Report) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
            if not found:
                report.problems.append(
                    _file_problem(path, "no *.yaml or *.yml files in this directory")
                )
            yield from found
        elif path.is_file():
            yield path
        else:
            report.problems.append(_file_problem(path, "no such file or directory"))


def _file_problem(path: Path, message: str) -> Problem:
    return Problem(
        file=str(path), line=None, column=None, field="", message=message,
        hint="check the path",
    )  # fmt: skip


def _validate_file(path: Path, report: Report) -> None:
    try:
        documents = load_yaml_file(path)
    except SpecError as error:
        report.problems.extend(error.problems)
        return
    for document in documents:
        if document.data is None:
            continue
        kind = document.data.get("kind") if isinstance(document.data, dict) else None
        name = _name_of(document.data)
        try:
            specs.parse_any(document)
        except SpecError as error:
            report.problems.extend(error.problems)
            report.documents.append(Checked(str(path), document.index, kind, name, ok=False))
        else:
            report.documents.append(Checked(str(path), document.index, kind, name, ok=True))


def _name_of(data: object) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("metadata"), dict):
        name = data["metadata"].get("name")
        return name if isinstance(name, str) else None
    return None
