"""Reading request bodies: size-limited JSON, validated by pydantic, errors naming the field.

Every body is read through :func:`parse_body`: it refuses a body over the configured
limit (413, before parsing), malformed JSON (400 with the line and column), a JSON
value that is not an object, and anything the model rejects (400 naming the field
path, e.g. ``canary.version``, and what was wrong with it). Nothing of a rejected
body goes further, in particular not into a query.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from auspice.webhooks.context import ApiError

__all__ = ["decode_json", "field_path", "parse_body", "read_json", "validate",
           "validation_error"]

M = TypeVar("M", bound=BaseModel)


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The request's JSON body as ``model``; :class:`ApiError` 400/413 otherwise."""
    return validate(await read_json(request), model)


def validate(data: dict[str, Any], model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise validation_error(error) from None


async def read_json(request: web.Request) -> dict[str, Any]:
    return decode_json(await request.read())  # read() raises 413 beyond client_max_size


def decode_json(raw: bytes) -> dict[str, Any]:
    """A JSON object from ``raw``; ApiError 400 naming what is wrong with it."""
    if not raw.strip():
        raise ApiError(400, "the request body is empty; send a JSON object",
                       hint="set Content-Type: application/json and a body")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ApiError(400, f"the request body is not valid JSON: {error.msg} at line "
                       f"{error.lineno} column {error.colno}") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"the request body must be a JSON object, not {_kind(data)}")
    return data


def validation_error(error: ValidationError) -> ApiError:
    """The first problem of a pydantic error as a 400, with the field path and the count."""
    problems = error.errors(include_url=False)
    first = problems[0]
    path = field_path(first["loc"])
    message = _message(first)
    more = len(problems) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    hint = first.get("ctx", {}).get("hint") if isinstance(first.get("ctx"), dict) else None
    return ApiError(400, f"{path or 'body'}: {message}{suffix}", field=path or None,
                    hint=hint)


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("canary", "version")`` -> ``canary.version``; list indexes as ``[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _message(problem: Any) -> str:
    kind = problem["type"]
    if kind == "missing":
        return "this field is required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "string_pattern_mismatch":
        pattern = problem.get("ctx", {}).get("pattern", "")
        return (f"{problem.get('input')!r} has characters that are not allowed here "
                f"(allowed: {pattern})")
    return str(problem["msg"])


def _kind(value: object) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", type(None): "null"}.get(type(value), type(value).__name__)
