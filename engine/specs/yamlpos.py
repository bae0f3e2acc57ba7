"""YAML documents that remember where every key and value came from.

An error in a template is only useful to an SRE if it points at the line to fix. PyYAML's
usual ``safe_load`` throws the positions away, so this module composes the node graph
first (which keeps a mark on every node), records the position of each mapping key and
sequence item under its *path* (``("spec", "metrics", 0, "tolerance")``), and then lets
PyYAML's safe constructor build the plain Python data from the same nodes, so values are
typed exactly as ``yaml.safe_load`` would type them.

Two mistakes that PyYAML accepts silently are reported here: a key given twice in one
mapping (the last one would win without a word) and a document that is not a mapping.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auspice.specs.problems import Finding, Problem, SpecError

PathKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column in a file."""

    line: int
    column: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Position:
        return cls(mark.line + 1, mark.column + 1)


@dataclass(slots=True)
class Located:
    """Where a path's key (for mapping entries) and value start, and the value's style."""

    key: Position | None
    value: Position
    style: str | None = None  # YAML scalar style: None plain, '|' literal, '>' folded, quotes

    @property
    def best(self) -> Position:
        return self.key or self.value


@dataclass(slots=True)
class YamlDocument:
    """One YAML document: its data, its source name and the position of every path."""

    source: str
    index: int
    data: Any
    positions: dict[PathKey, Located] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def locate(self, path: PathKey) -> tuple[Position, bool]:
        """Position of ``path``, or of its nearest recorded ancestor.

        The flag says whether the position is the path's own (True) or an ancestor's.
        """
        for cut in range(len(path), -1, -1):
            located = self.positions.get(tuple(path[:cut]))
            if located is not None:
                return located.best, cut == len(path)
        return Position(1, 1), False

    def problem(self, finding: Finding) -> Problem:
        position = finding.position or self.locate(finding.path)[0]
        line, column = position.line, position.column
        located = self.positions.get(tuple(finding.path))
        if finding.value_line and located is not None and located.style == "|":
            # A literal block's lines follow the '|' line one to one; the column of the
            # query text is not known after rendering, so only the line is given.
            line, column = located.value.line + finding.value_line, None
        return Problem(
            file=self.source,
            line=line,
            column=column,
            field=format_path(finding.path),
            message=finding.message,
            hint=finding.hint,
        )


def format_path(path: PathKey) -> str:
    """``("spec", "metrics", 0, "tolerance")`` -> ``spec.metrics[0].tolerance``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def load_yaml_text(text: str, *, source: str) -> list[YamlDocument]:
    """Parse every document of ``text``; a syntax error raises :class:`SpecError`."""
    documents: list[YamlDocument] = []
    try:
        for index, node in enumerate(_compose_all(text)):
            documents.append(_document(node, source=source, index=index))
    except yaml.MarkedYAMLError as error:
        raise SpecError([_syntax_problem(error, source=source)]) from None
    except yaml.YAMLError as error:  # unmarked errors are rare (e.g. bad encoding)
        problem = Problem(
            file=source,
            line=None,
            column=None,
            field="",
            message=f"YAML error: {error}",
            hint="save the file as UTF-8 YAML",
        )
        raise SpecError([problem]) from None
    return documents


def load_yaml_file(path: str | Path) -> list[YamlDocument]:
    """Read and parse a YAML file; an unreadable file raises :class:`SpecError` too."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problem = Problem(
            file=source,
            line=None,
            column=None,
            field="",
            message=f"cannot read the file: {error}",
            hint="check the path and that the file is UTF-8 text",
        )
        raise SpecError([problem]) from None
    return load_yaml_text(text, source=source)


def _compose_all(text: str) -> Iterator[yaml.Node]:
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node
    finally:
        loader.dispose()


def _document(node: yaml.Node, *, source: str, index: int) -> YamlDocument:
    document = YamlDocument(source=source, index=index, data=None)
    _find_duplicates(node, (), document)
    data = _construct(node)
    _record(node, (), None, document.positions)
    document.data = data
    return document


def _construct(node: yaml.Node) -> Any:
    constructor = yaml.SafeLoader("")
    try:
        return constructor.construct_document(node)
    finally:
        constructor.dispose()


def _record(
    node: yaml.Node, path: PathKey, key_mark: yaml.Mark | None, out: dict[PathKey, Located]
) -> None:
    style = getattr(node, "style", None) if isinstance(node, yaml.ScalarNode) else None
    out.setdefault(
        path,
        Located(Position.of(key_mark) if key_mark else None, Position.of(node.start_mark), style),
    )
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _record(value_node, (*path, key_node.value), key_node.start_mark, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), None, out)


def _find_duplicates(node: yaml.Node, path: PathKey, document: YamlDocument) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Mark] = {}
        for key_node, value_node in node.value:
            if (
                not isinstance(key_node, yaml.ScalarNode)
                or key_node.tag == "tag:yaml.org,2002:merge"
            ):
                continue
            key = key_node.value
            if key in seen:
                first = seen[key].line + 1
                document.findings.append(
                    Finding(
                        (*path, key),
                        f"key {key!r} is given twice (first on line {first}); "
                        "YAML would silently keep only the last one",
                        "remove one of the two entries",
                        position=Position.of(key_node.start_mark),
                    )
                )
            else:
                seen[key] = key_node.start_mark
            _find_duplicates(value_node, (*path, key), document)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _find_duplicates(item, (*path, index), document)


def _syntax_problem(error: yaml.MarkedYAMLError, *, source: str) -> Problem:
    mark = error.problem_mark or error.context_mark
    what = " ".join(part for part in (error.context, error.problem) if part)
    context = error.context_mark
    if error.context and context is not None and mark is not None and context.line != mark.line:
        what += f" (what it was parsing started on line {context.line + 1})"
    hint = "check the indentation and quoting on this line and the one above"
    if any(sign in what for sign in ("{", "found character", "mapping values", "unhashable")):
        hint += (
            "; a value that starts with '{{', '[' or '*' or holds ': ' must be quoted, "
            "or written as a block scalar ('query: |' and the query on the next lines)"
        )
    return Problem(
        file=source,
        line=mark.line + 1 if mark else None,
        column=mark.column + 1 if mark else None,
        field="",
        message=f"YAML syntax error: {what or error}",
        hint=hint,
    )
