"""An async client for the Prometheus HTTP API as Thanos' querier extends it.

One :class:`PrometheusSource` talks to one server (a Prometheus, a Thanos querier or
query-frontend) and answers :meth:`~PrometheusSource.query` and
:meth:`~PrometheusSource.query_range` with :class:`~auspice.metrics.source.Series`.
It is written for the case where a wrong answer is worse than no answer:

* ``partial_response=false`` is sent by default, and an answer that still carries
  warnings raises :class:`~auspice.metrics.promapi.ServerWarningError`: a cluster whose
  store is down must fail the look, not look like a quiet, healthy canary;
* an empty result raises :class:`~auspice.metrics.source.NoDataError`, never zeros;
* 429/502/503/504 and connection failures are retried with exponential backoff (and
  jitter, honouring ``Retry-After``); 400/422 never are, the query itself is wrong;
  a request that exceeds its timeout is not retried either, since the next look asks
  again anyway and retries would multiply the wait;
* a range above ``max_points`` samples per series (Prometheus refuses more than
  11,000) is split into several requests and the series stitched back together;
* every error names the query, the server (without credentials) and what came back.

Thanos parameters (``dedup``, ``replicaLabels[]``, ``partial_response``) are plain form
parameters that Prometheus ignores, so the same client serves both; pass
``thanos_parameters=False`` for a strict proxy that rejects unknown parameters.
"""

from __future__ import annotations

import asyncio
import base64
import math
import random
import ssl
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp
import numpy as np
from yarl import URL

from auspice.clock import Clock, RealClock
from auspice.errors import ConfigError
from auspice.metrics.promapi import (
    RETRYABLE_STATUSES,
    QueryError,
    QueryTimeoutError,
    ServerUnavailableError,
    error_for,
    parse_answer,
)
from auspice.metrics.source import Series
from auspice.specs.serve import PrometheusConfig

__all__ = ["MAX_POINTS", "PrometheusSource", "display_url"]

#: Prometheus refuses range queries with more than 11,000 points per series.
MAX_POINTS = 11_000

Time = float | datetime


def display_url(url: str | URL) -> str:
    """``url`` without user, password, query string or fragment: safe for messages."""
    parsed = URL(url)
    if not parsed.is_absolute():
        return str(parsed.with_query(None).with_fragment(None))
    return str(parsed.with_user(None).with_query(None).with_fragment(None))


class PrometheusSource:
    """Prometheus/Thanos query API client; see the module docstring for its behaviour.

    ``timeout`` bounds each HTTP request (and is passed to the server as its own
    evaluation timeout); ``retries`` is the number of extra attempts for retryable
    failures, waiting ``backoff * 2**attempt`` seconds (capped at ``max_backoff``,
    with jitter) on ``clock``. ``session`` lets callers share an aiohttp session; the
    source closes only a session it created itself.
    """

    @classmethod
    def from_config(cls, config: PrometheusConfig, **overrides: Any) -> PrometheusSource:
        """The source a ``prometheus:`` section describes (``overrides``: e.g. a test's
        clock); the section's fields are this class's keyword arguments, name for name."""
        return cls(config.url, **{**config.model_dump(exclude={"url"}), **overrides})

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        bearer_token: str | None = None,
        bearer_token_file: str | Path | None = None,
        basic_auth: tuple[str, str] | None = None,
        ca_file: str | Path | None = None,
        client_cert: str | Path | None = None,
        client_key: str | Path | None = None,
        insecure_skip_verify: bool = False,
        partial_response: bool = False,
        dedup: bool = True,
        replica_labels: Sequence[str] = (),
        thanos_parameters: bool = True,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        max_points: int = MAX_POINTS,
        method: Literal["GET", "POST"] = "GET",
        clock: Clock | None = None,
        session: aiohttp.ClientSession | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(
                f"metrics source URL {display_url(base_url)!r} is not an http(s) URL",
                hint="write it like https://thanos-query.monitoring:9090",
            )
        if bearer_token is not None and bearer_token_file is not None:
            raise ConfigError("give a bearer token or a bearer token file, not both")
        if url.query_string or url.fragment:
            raise ConfigError(
                f"metrics source URL {display_url(base_url)!r} has a query string or fragment",
                hint="give the base URL only; send tenant or auth settings as headers",
            )
        if url.user is not None and basic_auth is None:
            basic_auth = (url.user, url.password or "")
        self.server = display_url(url)
        self._api = url.with_user(None).with_path(url.path.rstrip("/"))
        self._timeout = float(timeout)
        self._headers = dict(headers or {})
        self._bearer_token = bearer_token
        self._bearer_token_file = Path(bearer_token_file) if bearer_token_file else None
        self._basic = _basic_header(*basic_auth) if basic_auth else None
        self._ssl = _ssl_context(ca_file, client_cert, client_key, insecure_skip_verify)
        self._extra = _thanos_parameters(partial_response, dedup, replica_labels)
        if not thanos_parameters:
            self._extra = []
        self._retries = max(0, int(retries))
        self._backoff = float(backoff)
        self._max_backoff = float(max_backoff)
        self._max_points = max(2, int(max_points))
        self._method = method
        self._clock = clock or RealClock()
        self._session = session
        self._owns_session = session is None
        self._jitter = jitter
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this source created it; later queries are refused."""
        self._closed = True
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None if self._owns_session else self._session

    def __repr__(self) -> str:
        return f"PrometheusSource({self.server!r})"

    async def query(self, promql: str, at: Time) -> list[Series]:
        """Instant query: one point per series, evaluated at ``at``."""
        params = [("query", promql), ("time", _format_time(at))]
        return await self._call("api/v1/query", params, promql)

    async def query_range(self, promql: str, start: Time, end: Time, step: float) -> list[Series]:
        """Range query from ``start`` to ``end`` (inclusive) every ``step`` seconds."""
        first, last = _seconds(start), _seconds(end)
        if not (step > 0 and math.isfinite(step)):
            raise ValueError(f"step must be a positive number of seconds, got {step!r}")
        if last < first:
            raise ValueError(f"range end {last} is before its start {first}")
        parts = [
            await self._range_part(promql, part_start, part_end, step)
            for part_start, part_end in split_range(first, last, step, self._max_points)
        ]
        return parts[0] if len(parts) == 1 else stitch(parts)

    async def _range_part(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        params = [
            ("query", promql),
            ("start", _format_seconds(start)),
            ("end", _format_seconds(end)),
            ("step", _format_seconds(step)),
        ]
        return await self._call("api/v1/query_range", params, promql)

    async def _call(self, path: str, params: list[tuple[str, str]], promql: str) -> list[Series]:
        params = [*params, *self._extra, ("timeout", _format_seconds(self._timeout))]
        attempt = 0
        while True:
            try:
                return await self._attempt(path, params, promql)
            except _Retry as retry:
                if attempt >= self._retries:
                    raise retry.error from None
                await self._clock.sleep(self._delay(attempt, retry.after))
                attempt += 1

    async def _attempt(self, path: str, params: list[tuple[str, str]], promql: str) -> list[Series]:
        session = self._ensure_session()
        url = self._api / path
        request_kwargs = await self._request_kwargs(params)
        try:
            async with session.request(self._method, url, **request_kwargs) as response:
                body = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            raise QueryTimeoutError(
                f"no complete answer within {self._timeout:g}s",
                query=promql,
                server=self.server,
            ) from None
        except aiohttp.ClientSSLError as error:  # a certificate will not change on retry
            raise ServerUnavailableError(
                f"TLS with the server failed: {_describe(error)} (check caFile, clientCert "
                "and clientKey, or the server's certificate)",
                query=promql,
                server=self.server,
            ) from None
        except aiohttp.ClientError as error:
            raise _Retry(
                ServerUnavailableError(
                    f"cannot connect or read the answer: {_describe(error)}",
                    query=promql,
                    server=self.server,
                )
            ) from None
        if status in RETRYABLE_STATUSES:
            error = error_for(status, body, query=promql, server=self.server)
            raise _Retry(error, after=_retry_after(retry_after))
        return parse_answer(status, body, query=promql, server=self.server)

    async def _request_kwargs(self, params: list[tuple[str, str]]) -> dict[str, object]:
        headers = dict(self._headers)
        token = await self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self._basic:
            headers["Authorization"] = self._basic
        kwargs: dict[str, object] = {
            "headers": headers,
            "timeout": aiohttp.ClientTimeout(total=self._timeout),
            "allow_redirects": False,
        }
        if self._ssl is not None:
            kwargs["ssl"] = self._ssl
        kwargs["data" if self._method == "POST" else "params"] = params
        return kwargs

    async def _token(self) -> str | None:
        if self._bearer_token_file is None:
            return self._bearer_token
        # Read every time: projected service-account tokens are rotated on disk.
        try:
            text = await asyncio.to_thread(self._bearer_token_file.read_text)
        except OSError as error:
            raise ConfigError(
                f"cannot read the bearer token file {self._bearer_token_file}: {error.strerror}",
                hint="check the path and its permissions",
            ) from None
        return text.strip()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ServerUnavailableError("the metrics source was closed", query="",
                                         server=self.server)
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    def _delay(self, attempt: int, after: float | None) -> float:
        delay = min(self._max_backoff, self._backoff * 2**attempt)
        delay *= 0.5 + 0.5 * self._jitter()
        if after is not None:
            delay = max(delay, min(after, self._max_backoff))
        return delay


class _Retry(Exception):
    """Internal: a retryable failure, with the error to raise if retries run out."""

    def __init__(self, error: QueryError, *, after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.after = after


def split_range(
    start: float, end: float, step: float, max_points: int = MAX_POINTS
) -> list[tuple[float, float]]:
    """Cut [start, end] into sub-ranges of at most ``max_points`` samples on the same grid."""
    points = math.floor((end - start) / step + 1e-9) + 1
    parts: list[tuple[float, float]] = []
    for first in range(0, points, max_points):
        last = min(points, first + max_points) - 1
        parts.append((start + first * step, min(end, start + last * step)))
    return parts


def stitch(parts: Sequence[list[Series]]) -> list[Series]:
    """Join the series of consecutive sub-range answers by label set.

    A series missing from some parts (it started or ended inside the range) keeps the
    points it has; points reported twice at a boundary are kept once.
    """
    merged: dict[frozenset[tuple[str, str]], list[Series]] = {}
    for part in parts:
        for series in part:
            merged.setdefault(frozenset(series.labels.items()), []).append(series)
    joined = []
    for pieces in merged.values():
        timestamps = np.concatenate([piece.timestamps for piece in pieces])
        values = np.concatenate([piece.values for piece in pieces])
        timestamps, first = np.unique(timestamps, return_index=True)
        joined.append(Series(dict(pieces[0].labels), timestamps, values[first]))
    return joined


def _thanos_parameters(
    partial_response: bool, dedup: bool, replica_labels: Sequence[str]
) -> list[tuple[str, str]]:
    params = [
        ("partial_response", "true" if partial_response else "false"),
        ("dedup", "true" if dedup else "false"),
    ]
    if isinstance(replica_labels, str):
        replica_labels = [replica_labels]
    params.extend(("replicaLabels[]", label) for label in replica_labels)
    return params


def _ssl_context(
    ca_file: str | Path | None,
    client_cert: str | Path | None,
    client_key: str | Path | None,
    insecure: bool,
) -> ssl.SSLContext | None:
    if ca_file is None and client_cert is None and not insecure:
        return None  # aiohttp's default verification against the system CAs
    if client_key is not None and client_cert is None:
        raise ConfigError("a TLS client key needs a client certificate (client_cert)")
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if client_cert is not None:
            context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"cannot load the TLS files for the metrics source: {error}",
            hint="check ca_file, client_cert and client_key",
        ) from None
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _basic_header(user: str, password: str) -> str:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {encoded}"


def _retry_after(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _describe(error: aiohttp.ClientError) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}" if type(error).__name__ not in text else text


def _seconds(value: Time) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"datetime {value.isoformat()} has no time zone; use UTC")
        return value.timestamp()
    seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(f"time {value!r} is not finite")
    return seconds


def _format_time(value: Time) -> str:
    return _format_seconds(_seconds(value))


def _format_seconds(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return text or "0"
