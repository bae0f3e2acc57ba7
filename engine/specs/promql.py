"""The query language of templates: PromQL placeholders, filled without letting a value
change the query, and the syntax check.

This lives with the specs, not with the metrics client, because validation needs all of
it: ``auspice validate`` renders every query with sample values and parses the result,
so a template is rejected before it reaches a Prometheus. The client
(:mod:`auspice.metrics`) only sends what :func:`render` produced.

Templates write queries such as
``sum(rate(istio_requests_total{destination_version="{{version}}"}[{{interval}}]))``
and scopes (canary, baseline) and template arguments supply the values. The values come
from plans, command lines and webhooks, so they are untrusted text: a version string like
``"} or vector(1) #`` pasted into a query would turn a failing canary into a passing one.

:func:`render` therefore looks at *where* each placeholder sits, with a small scanner
that knows PromQL's lexical contexts:

* inside a double- or single-quoted string literal, the value is escaped for that string
  (backslash, the quote, control characters), and if the string is the right side of a
  regex matcher (``=~`` / ``!~``) its regex metacharacters are escaped first, because a
  scope value is always a literal label value, never a pattern;
* inside a backtick (raw) string nothing can be escaped, and promql-parser and
  Prometheus disagree on backslashes there, so a placeholder in one is refused;
* outside any string, only a duration (``30s``, ``1h30m``), an unsigned number or an
  identifier (a metric or label name, colons allowed for recording rules, PromQL
  keywords refused) is accepted: anything else raises :class:`RenderError`;
* inside a ``#`` comment, control characters are written as escapes, so a line break
  in a value cannot end the comment.

The result is that the rendered query always has the same syntax tree as the template
rendered with harmless values; the property tests in ``tests/specs`` check exactly
that with hostile values. :func:`check_syntax` parses a query with the ``promql-parser``
package so templates are rejected at validation time rather than at the first look.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import NoReturn

import promql_parser

from auspice.errors import ConfigError

__all__ = [
    "BUILTIN_PLACEHOLDERS",
    "PromQLError",
    "PromQLSyntaxError",
    "RenderError",
    "check_syntax",
    "escape_regex",
    "escape_string",
    "placeholders",
    "render",
]

#: Names every scope fills; templates may add their own argument names.
BUILTIN_PLACEHOLDERS = frozenset({"version", "workload", "namespace", "cluster", "interval"})

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
# Words the PromQL lexer treats specially; as a bare value they could change the query.
_KEYWORDS = frozenset(
    {
        "and", "or", "unless", "atan2", "by", "without", "on", "ignoring", "group_left",
        "group_right", "bool", "offset", "start", "end", "inf", "nan",
    }
)  # fmt: skip
# Go's regexp.QuoteMeta set: exactly the characters RE2 treats as special.
_REGEX_META = frozenset(r"\.+*?()|[]{}^$")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\a": "\\a", "\b": "\\b",
                  "\f": "\\f", "\v": "\\v"}  # fmt: skip


class PromQLError(ConfigError):
    """A query template cannot be rendered or parsed."""


class PromQLSyntaxError(PromQLError):
    """The PromQL parser rejected a query; ``position`` is (line, column) when known."""

    def __init__(
        self, message: str, *, query: str, position: tuple[int, int] | None = None
    ) -> None:
        self.query = query
        self.parser_message = message
        self.position = position
        where = f" at line {position[0]}, column {position[1]}" if position else ""
        super().__init__(
            f"PromQL syntax error{where}: {message} in query {query!r}",
            hint="fix the query; try it in the Prometheus UI's expression browser",
        )


class RenderError(PromQLError):
    """A placeholder has no value, or its value does not fit where the placeholder sits."""

    def __init__(self, message: str, *, placeholder: str, hint: str | None = None) -> None:
        self.placeholder = placeholder
        super().__init__(message, hint=hint)


class _Context(Enum):
    BARE = "outside a string literal"
    DOUBLE = "inside a double-quoted string"
    SINGLE = "inside a single-quoted string"
    RAW = "inside a backtick string"
    COMMENT = "inside a comment"


@dataclass(frozen=True, slots=True)
class _Slot:
    """One placeholder occurrence: its span in the template and its lexical context."""

    name: str
    start: int
    end: int
    context: _Context
    regex: bool


_QUOTES = {'"': _Context.DOUBLE, "'": _Context.SINGLE, "`": _Context.RAW}
_CLOSERS = {_Context.DOUBLE: '"', _Context.SINGLE: "'", _Context.RAW: "`"}


def _scan(query: str) -> Iterator[_Slot]:
    """Yield every placeholder of ``query`` with the lexical context it sits in."""
    context = _Context.BARE
    regex = False
    i = 0
    while i < len(query):
        match = _PLACEHOLDER.match(query, i)
        if match:
            yield _Slot(match.group(1), i, match.end(), context, regex and context in _CLOSERS)
            i = match.end()
            continue
        char = query[i]
        if context is _Context.BARE:
            if char in _QUOTES:
                context = _QUOTES[char]
                regex = _follows_regex_operator(query, i)
            elif char == "#":
                context = _Context.COMMENT
        elif context is _Context.COMMENT:
            if char == "\n":
                context = _Context.BARE
        elif char == "\\" and context is not _Context.RAW:
            i += 1  # the escaped character cannot end the string
        elif char == _CLOSERS[context]:
            context = _Context.BARE
        i += 1


def _follows_regex_operator(query: str, quote_at: int) -> bool:
    before = query[:quote_at].rstrip()
    return before.endswith(("=~", "!~"))


def placeholders(query: str) -> set[str]:
    """Names of all ``{{name}}`` placeholders in ``query``."""
    return {slot.name for slot in _scan(query)}


def render(query: str, values: Mapping[str, str]) -> str:
    """Fill every placeholder of ``query`` from ``values``, escaped for where it sits.

    Raises :class:`RenderError` naming the placeholder when a value is missing or cannot
    be placed safely (see the module docstring for the rules).
    """
    parts: list[str] = []
    last = 0
    for slot in _scan(query):
        if slot.name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise RenderError(
                f"unknown placeholder {{{{{slot.name}}}}} in query {query!r} (known: {known})",
                placeholder=slot.name,
                hint="define it as a template argument or fix its spelling",
            )
        parts.append(query[last : slot.start])
        parts.append(_fill(slot, _as_text(slot.name, values[slot.name])))
        last = slot.end
    parts.append(query[last:])
    return "".join(parts)


def _as_text(name: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value)
    raise RenderError(
        f"placeholder {{{{{name}}}}} got a {type(value).__name__}, expected text",
        placeholder=name,
    )


def _fill(slot: _Slot, value: str) -> str:
    if not _is_utf8(value):
        _refuse(slot, value, "is not valid UTF-8 (it holds a lone surrogate)")
    if slot.context is _Context.BARE:
        return _bare(slot, value)
    if slot.context is _Context.COMMENT:
        return escape_string(value, quote="")  # "\n" as two characters cannot end it
    if slot.context is _Context.RAW:
        raise RenderError(
            f"placeholder {{{{{slot.name}}}}} is {slot.context.value}, where no value"
            " can be escaped",
            placeholder=slot.name,
            hint=f'write it in a double-quoted string: "{{{{{slot.name}}}}}"',
        )
    text = escape_regex(value) if slot.regex else value
    return escape_string(text, quote=_CLOSERS[slot.context])


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bare(slot: _Slot, value: str) -> str:
    if _DURATION.fullmatch(value) or _NUMBER.fullmatch(value):
        return value
    if not _IDENTIFIER.fullmatch(value):
        _refuse(slot, value, "is not a duration (30s, 1h30m), an unsigned number or a name")
    if value.lower() in _KEYWORDS:
        _refuse(slot, value, "is a PromQL keyword")
    return value


def _refuse(
    slot: _Slot,
    value: str,
    problem: str,
    *,
    hint: str = 'put the placeholder inside a quoted label value, e.g. version="{{version}}"',
) -> NoReturn:
    raise RenderError(
        f"value {value!r} for placeholder {{{{{slot.name}}}}} {slot.context.value} {problem}",
        placeholder=slot.name,
        hint=hint,
    )


def escape_regex(value: str) -> str:
    """Escape RE2 metacharacters so the regex matches ``value`` literally (Go's QuoteMeta)."""
    return "".join("\\" + char if char in _REGEX_META else char for char in value)


def escape_string(value: str, *, quote: str = '"') -> str:
    """Escape ``value`` for the inside of a PromQL string literal delimited by ``quote``.

    PromQL only accepts the delimiting quote as an escaped quote, so the other quote
    character is left as it is.
    """
    out: list[str] = []
    for char in value:
        if char == "\\" or char == quote:
            out.append("\\" + char)
        elif char in _NAMED_ESCAPES:
            out.append(_NAMED_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def check_syntax(query: str) -> None:
    """Parse ``query`` with promql-parser; raise :class:`PromQLSyntaxError` if it is invalid."""
    try:
        promql_parser.parse(query)
    except ValueError as error:
        message = str(error)
        raise PromQLSyntaxError(message, query=query, position=_locate(message, query)) from None
    except BaseException as error:
        # promql-parser panics (pyo3's PanicException derives from BaseException) on
        # some inputs, e.g. a duration too large for Rust's Duration.
        if type(error).__name__ != "PanicException":
            raise
        raise PromQLSyntaxError(f"parser failure: {error}", query=query) from None


_FRAGMENT = re.compile(r"'([^']+)'|syntax: (\S+)$|regex for (.+)$")


def _locate(message: str, query: str) -> tuple[int, int] | None:
    """Best-effort (line, column) of the fragment a parser message quotes.

    promql-parser's messages carry no offsets, but many quote the offending text
    (``unknown function with name 'foo'``, ``bad number or duration syntax: 5x``).
    """
    match = _FRAGMENT.search(message)
    if not match:
        return None
    fragment = next(group for group in match.groups() if group)
    offset = query.find(fragment)
    if offset < 0:
        return None
    line = query.count("\n", 0, offset) + 1
    column = offset - (query.rfind("\n", 0, offset) + 1) + 1
    return line, column
