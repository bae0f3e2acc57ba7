"""Turning pydantic's ValidationError into findings an SRE can act on.

pydantic reports each error with a ``loc`` such as ``("spec", "metrics", 0, "counts",
"tolerance")``: YAML keys by alias, list indexes, and, for the metric union, the tag of
the member that was tried. :func:`findings_from` maps that back to a path that exists in
the YAML data (so the loader can find its line), rewrites the message to show the
offending value, and attaches a fix: the hint a field check gave, a close spelling for
an unknown key, or advice for the error type.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from auspice.specs.problems import Finding

_TYPE_HINTS = {
    "string_type": "write text; quote it if YAML reads it as something else "
    "(yes/no, numbers, or a value starting with '{{')",
    "float_type": "write a number without quotes, e.g. 0.05",
    "int_type": "write a whole number without quotes, e.g. 5",
    "bool_type": "write true or false, without quotes",
    "tuple_type": "write a YAML list: '- item' lines or [a, b]",
    "list_type": "write a YAML list: '- item' lines or [a, b]",
    "model_type": "write a mapping ('key: value' lines, indented under this key)",
    "model_attributes_type": "write a mapping ('key: value' lines, indented under this key)",
    "dict_type": "write a mapping ('key: value' lines, indented under this key)",
    "too_short": "give at least one entry",
    "union_tag_not_found": "add 'kind:' (counts, histogram, gauge, threshold or kayenta), "
    "or 'use:' a library preset such as istio/error-rate",
}


def findings_from(error: ValidationError, data: Any, model: type[BaseModel]) -> list[Finding]:
    """One finding per pydantic error, with paths that exist in ``data`` where possible.

    A misspelt required field shows up twice in pydantic (unknown ``tolerence``, missing
    ``tolerance``); only the unknown one is kept, since its fix names the right spelling.
    """
    details = [d for d in error.errors(include_url=False) if not _reported_elsewhere(d)]
    misspelt = {
        (tuple(d["loc"][:-1]), close)
        for d in details
        if d["type"] == "extra_forbidden"
        for close in _close_fields(str(d["loc"][-1]), tuple(d["loc"]), model)
    }
    return [
        _finding(detail, data, model)
        for detail in details
        if not (
            detail["type"] == "missing"
            and (tuple(detail["loc"][:-1]), str(detail["loc"][-1])) in misspelt
        )
    ]


def _reported_elsewhere(detail: ErrorDetails) -> bool:
    # A metric whose 'use:' could not be resolved has no kind; the preset finding says why.
    value = detail["input"]
    return detail["type"] == "union_tag_not_found" and isinstance(value, dict) and "use" in value


def _finding(detail: ErrorDetails, data: Any, model: type[BaseModel]) -> Finding:
    kind = detail["type"]
    loc = tuple(detail["loc"])
    path = data_path(loc, data)
    ctx = detail.get("ctx") or {}
    field = str(path[-1]) if path else "the document"
    if kind == "auspice":
        return Finding(path, str(ctx["message"]), str(ctx["hint"]))
    if kind == "auspice_duration":
        return Finding(path, f"{field}: {ctx['message']}", str(ctx["hint"]))
    if kind == "missing":
        return Finding(path, f"required field {field!r} is missing", f"add '{field}:'")
    if kind == "extra_forbidden":
        return Finding(path, f"unknown field {field!r}", _unknown_field_hint(field, loc, model))
    if kind == "literal_error":
        return Finding(
            path,
            f"{field}: {detail['input']!r} is not allowed",
            _literal_hint(field, str(ctx.get("expected", ""))),
        )
    if kind == "union_tag_invalid":
        return Finding(
            (*path, "kind"),
            f"unknown metric kind {ctx.get('tag')!r}",
            f"use one of {ctx.get('expected_tags')}",
        )
    hint = _TYPE_HINTS.get(kind, "see docs/templates.md for this field")
    if kind == "string_type" and isinstance(detail["input"], dict):
        hint = (
            "YAML read this value as a mapping because it starts with '{': quote it, "
            "or write it as a block scalar ('query: |' and the query on the next lines)"
        )
    shown = _show(detail["input"])
    return Finding(path, f"{field}: {detail['msg']}, got {shown}", hint)


def data_path(loc: tuple[str | int, ...], data: Any) -> tuple[str | int, ...]:
    """The part of ``loc`` that walks ``data``; a missing last key is kept.

    Steps that are not in the data (the union tag pydantic inserts, validator names)
    are dropped, so the path can be looked up among the YAML positions.
    """
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif index == len(loc) - 1 and isinstance(part, str) and isinstance(node, dict):
            path.append(part)  # a missing field: keep its name, locate its parent
    return tuple(path)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _literal_hint(field: str, expected: str) -> str:
    if field == "direction" and expected == "'increase'":
        return (
            "counts and histogram metrics only test that the canary got worse (higher); "
            "to guard against a drop, count the failures instead, or use a gauge"
        )
    return f"use one of {expected}"


def _close_fields(field: str, loc: tuple[str | int, ...], model: type[BaseModel]) -> list[str]:
    return difflib.get_close_matches(field, fields_at(model, loc[:-1]), n=1, cutoff=0.6)


def _unknown_field_hint(field: str, loc: tuple[str | int, ...], model: type[BaseModel]) -> str:
    known = fields_at(model, loc[:-1])
    if not known:
        return "remove it, or check its spelling and indentation"
    close = _close_fields(field, loc, model)
    if close:
        return f"did you mean {close[0]!r}? (known fields here: {', '.join(known)})"
    return f"remove it or check its indentation; known fields here: {', '.join(known)}"


def fields_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """YAML keys allowed at ``loc`` (a pydantic loc) inside ``model``; empty if unknown."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(field.alias or name for name, field in current.model_fields.items())
    return []


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if _is_union(tp):
        models = [arg for arg in typing.get_args(tp) if arg is not type(None)]
        if len(models) == 1:
            return _unwrap(models[0])
    return tp


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _step(tp: Any, part: str | int) -> Any:
    tp = _unwrap(tp)
    if _is_union(tp):
        for member in typing.get_args(tp):
            field = getattr(member, "model_fields", {}).get("kind")
            if field is not None and part in typing.get_args(field.annotation):
                return member
        return None
    if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
        for name, field in tp.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    origin = typing.get_origin(tp)
    if origin in (tuple, list) and isinstance(part, int):
        return typing.get_args(tp)[0]
    if origin is dict:
        return typing.get_args(tp)[1]
    return None
