"""The Prometheus HTTP API's answers, as Thanos' querier and query-frontend send them.

This module knows the wire format and nothing about connections: it turns an HTTP
status and body into series, or into the error that says what came back. Keeping it
apart from the client makes every fault (a warning, an error JSON, a plain-text 504
from query-frontend, NaN values, garbage) testable without a server.

Outcomes, as the analysis sees them:

* series: ``status: success`` with a non-empty result and no warnings;
* :class:`~auspice.metrics.source.NoDataError`: success with an empty result;
* :class:`ServerWarningError` (a failed look): success *with warnings*. Thanos reports
  an unreachable store or a partial answer as warnings on an HTTP 200, so a dead
  cluster's missing series would otherwise look like a healthy, quiet canary;
* :class:`QueryRejectedError`: 400/422, the query is wrong or too expensive: retrying
  cannot help, the template must be fixed;
* :class:`ServerUnavailableError`: 5xx, 429, timeouts and connection failures: the
  look fails, and the client retries the retryable ones first;
* :class:`MalformedResponseError`: anything that is not a Prometheus API answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from auspice.errors import SourceError
from auspice.metrics.source import NoDataError, Series

__all__ = [
    "RETRYABLE_STATUSES",
    "MalformedResponseError",
    "QueryError",
    "QueryRejectedError",
    "QueryTimeoutError",
    "ServerUnavailableError",
    "ServerWarningError",
    "body_excerpt",
    "error_for",
    "parse_answer",
]

#: Statuses worth another try: overload, a proxy or query-frontend that timed out.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_REJECTED_STATUSES = frozenset({400, 422})
_EXCERPT_CHARS = 200
_QUERY_CHARS = 400


class QueryError(SourceError):
    """A query failed; says which query, which server and what came back."""

    default_hint = "the look counts as failed; check the server and the query"

    def __init__(
        self,
        what: str,
        *,
        query: str,
        server: str,
        status: int | None = None,
        error_type: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.query = query
        self.server = server
        self.status = status
        self.error_type = error_type
        self.what = what
        shown = query if len(query) <= _QUERY_CHARS else query[:_QUERY_CHARS] + "..."
        super().__init__(f"query {shown!r} on {server}: {what}", hint=hint or self.default_hint)


class QueryRejectedError(QueryError):
    """400/422: the server refused the query itself; retrying cannot help."""

    default_hint = "fix the query in the template (try it in the Prometheus UI)"


class ServerUnavailableError(QueryError):
    """The server could not answer now (5xx, 429, connection failure); the look fails."""

    default_hint = "the look counts as failed; the next look asks again"


class QueryTimeoutError(ServerUnavailableError):
    """No complete answer within the per-request timeout."""

    default_hint = "the look counts as failed; raise the source timeout if this repeats"


class ServerWarningError(QueryError):
    """The answer carried warnings (e.g. a store was unreachable): it may be partial."""

    default_hint = (
        "a partial answer can hide a failing cluster, so the look counts as failed; "
        "check the Thanos stores"
    )

    def __init__(self, warnings: Sequence[str], *, query: str, server: str) -> None:
        self.warnings = tuple(warnings)
        super().__init__(
            "answer carried warnings: " + "; ".join(self.warnings), query=query, server=server
        )


class MalformedResponseError(QueryError):
    """The body was not a Prometheus API answer."""

    default_hint = "check that the URL points at a Prometheus-compatible query API"


def body_excerpt(body: bytes) -> str:
    """The first part of a body, decoded leniently with whitespace collapsed."""
    text = re.sub(r"\s+", " ", body[: _EXCERPT_CHARS * 4].decode("utf-8", "replace")).strip()
    if len(text) > _EXCERPT_CHARS:
        text = text[:_EXCERPT_CHARS] + "..."
    return text or "(empty body)"


def parse_answer(status: int, body: bytes, *, query: str, server: str) -> list[Series]:
    """Series from one HTTP answer, or the error that describes it (module docstring)."""
    document = _load_json(body)
    if status != 200 or document is None or document.get("status") != "success":
        raise error_for(status, body, query=query, server=server)
    warnings = document.get("warnings")
    if warnings:
        raise ServerWarningError([str(w) for w in warnings], query=query, server=server)
    try:
        series = _series(document["data"])
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise MalformedResponseError(
            f"HTTP 200 but the data cannot be read ({error}): {body_excerpt(body)}",
            query=query,
            server=server,
            status=status,
        ) from None
    if not series:
        raise NoDataError(query=query, server=server)
    return series


def _load_json(body: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def error_for(status: int, body: bytes, *, query: str, server: str) -> QueryError:
    """The error describing an answer that is not a usable success (module docstring).

    Retryable statuses (:data:`RETRYABLE_STATUSES`) always give a
    :class:`ServerUnavailableError`.
    """
    document = _load_json(body)
    if document is not None and ("error" in document or "errorType" in document):
        error_type = str(document.get("errorType", "")) or None
        what = f"HTTP {status} {error_type or 'error'}: {document.get('error', '')}"
    else:
        error_type = None
        what = f"HTTP {status}, body: {body_excerpt(body)}"
    kind: type[QueryError]
    if status in _REJECTED_STATUSES:
        kind = QueryRejectedError
    elif status in RETRYABLE_STATUSES or status >= 500:
        kind = ServerUnavailableError
    elif status == 200:
        kind = MalformedResponseError
        what = f"HTTP 200 but not a successful API answer: {body_excerpt(body)}"
    else:
        kind = QueryError
    return kind(what, query=query, server=server, status=status, error_type=error_type)


def _series(data: dict[str, Any]) -> list[Series]:
    kind = data["resultType"]
    result = data["result"]
    if kind == "matrix":
        return [_matrix_series(item) for item in result]
    if kind == "vector":
        return [_points(item["metric"], [item["value"]]) for item in result]
    if kind == "scalar":
        return [_points({}, [result])]
    raise ValueError(f"result type {kind!r} is not a number series")


def _matrix_series(item: dict[str, Any]) -> Series:
    if "values" not in item and "histograms" in item:
        raise ValueError("native histograms are not supported, query classic _bucket series")
    return _points(item["metric"], item["values"])


def _points(metric: dict[str, Any], pairs: list[Any]) -> Series:
    if not isinstance(metric, dict):
        raise TypeError("series labels are not an object")
    if not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
        raise ValueError("a sample is not a [timestamp, value] pair")
    timestamps = np.array([pair[0] for pair in pairs], dtype=np.float64)
    values = np.array([_number(pair[1]) for pair in pairs], dtype=np.float64)
    labels = {str(name): str(value) for name, value in metric.items()}
    return Series(labels=labels, timestamps=timestamps, values=values)


def _number(text: Any) -> float:
    if not isinstance(text, str):
        raise TypeError(f"sample value {text!r} is not a string")
    return float(text)  # accepts "NaN", "+Inf", "-Inf" as Prometheus writes them
