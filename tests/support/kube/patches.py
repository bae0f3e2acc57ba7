"""How the test server changes stored objects: JSON merge patch, server-side apply's
merge, and JSON Patch (RFC 6902), with the real server's failure answers."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["apply_merge", "json_patch", "merge_patch"]

def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def apply_merge(target: Any, applied: Any) -> Any:
    """Server-side apply, approximated: maps merge recursively, lists are atomic."""
    if not isinstance(applied, dict) or not isinstance(target, dict):
        return copy.deepcopy(applied)
    result = dict(target)
    for name, value in applied.items():
        result[name] = apply_merge(result.get(name), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_insert: bool) -> int:
    if token == "-" and for_insert:
        return len(container)
    if not token.isdigit():
        raise ValueError(f"invalid array index {token!r}")
    index = int(token)
    limit = len(container) if for_insert else len(container) - 1
    if index > limit:
        raise ValueError(f"array index {index} out of range")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, for_insert=False)]
        else:
            raise ValueError(f"path element {token!r} not found")
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise ValueError(f"path {path!r} not found")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_insert=False)]
    raise ValueError(f"path {path!r} not found")


def _remove(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, for_insert=False))
    raise ValueError(f"path {path!r} not found")


def _add(doc: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return copy.deepcopy(value)
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise ValueError(f"path {path!r} not found")
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, for_insert=False)] = copy.deepcopy(value)
        else:
            parent.insert(_index(parent, last, for_insert=True), copy.deepcopy(value))
    else:
        raise ValueError(f"path {path!r} not found")
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch; raises ValueError on a malformed or failed operation."""
    if not isinstance(operations, list):
        raise ValueError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path")
        if not isinstance(path, str):
            raise ValueError(f"operation {operation!r} has no path")
        if op == "add":
            doc = _add(doc, path, operation["value"])
        elif op == "replace":
            doc = _add(doc, path, operation["value"], replace=True)
        elif op == "remove":
            _remove(doc, path)
        elif op == "test":
            if _get(doc, path) != operation.get("value"):
                raise ValueError(f"testing value {path} failed")
        elif op in ("move", "copy"):
            value = (
                _remove(doc, operation["from"]) if op == "move" else _get(doc, operation["from"])
            )
            doc = _add(doc, path, value)
        else:
            raise ValueError(f"unknown JSON patch operation {op!r}")
    return doc


