"""A small aiohttp server that answers like Thanos' querier and query-frontend.

Real Prometheus covers the happy path in the integration tests; the faults Thanos adds
(warnings on an HTTP 200, partial answers, query-frontend's plain-text 504, overload
503s, slow stores) cannot be produced by a single Prometheus, so this server replays
their response shapes. A test queues :class:`Reply` objects (or callables that build one
from the request) and reads back what the client sent::

    async with ThanosFake() as fake:
        fake.queue(unavailable_503(), matrix_reply([...]))
        source = PrometheusSource(fake.url, backoff=0)
        ...
        assert fake.requests[0].params["partial_response"] == "false"

When the queue is empty, ``fake.default`` answers (an empty success by default).
``ThanosFake(tls=self_signed_certificate(tmp_path))`` serves HTTPS instead, with a
certificate for 127.0.0.1 made by ``openssl req`` that no system store trusts.
The shapes follow the Prometheus HTTP API documentation and Thanos' querier docs:
``{"status": "success", "data": {...}, "warnings": [...]}`` and
``{"status": "error", "errorType": ..., "error": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import math
import ssl
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from multidict import MultiDict

from support.integration import require_binary

__all__ = [
    "Reply",
    "RequestRecord",
    "SelfSigned",
    "ThanosFake",
    "bad_data_400",
    "execution_422",
    "frontend_timeout_504",
    "garbage_200",
    "matrix_from_request",
    "matrix_reply",
    "self_signed_certificate",
    "unavailable_503",
    "vector_reply",
    "warning_reply",
]


@dataclass(frozen=True)
class Reply:
    """One canned HTTP answer; ``delay`` seconds pass before it is sent."""

    status: int = 200
    body: bytes | str | dict[str, Any] = b""
    content_type: str = "application/json"
    delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)
    disconnect: bool = False  # drop the connection instead of answering

    def encoded(self) -> bytes:
        if isinstance(self.body, dict):
            return json.dumps(self.body).encode()
        if isinstance(self.body, str):
            return self.body.encode()
        return self.body


@dataclass(frozen=True)
class RequestRecord:
    """What the client sent: path, all form/query parameters (multi-valued) and headers."""

    method: str
    path: str
    params: MultiDict[str]
    headers: Mapping[str, str]


Responder = Reply | Callable[[RequestRecord], Reply]


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _success(data: dict[str, Any], warnings: Sequence[str] = ()) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = list(warnings)
    return body


def matrix_reply(
    series: Iterable[tuple[Mapping[str, str], Sequence[tuple[float, float]]]],
    *,
    warnings: Sequence[str] = (),
    delay: float = 0.0,
) -> Reply:
    """A range-query answer; each series is (labels, [(timestamp, value), ...])."""
    result = [
        {"metric": dict(labels), "values": [[t, _format_value(v)] for t, v in points]}
        for labels, points in series
    ]
    return Reply(body=_success({"resultType": "matrix", "result": result}, warnings), delay=delay)


def vector_reply(
    series: Iterable[tuple[Mapping[str, str], float]], *, at: float, warnings: Sequence[str] = ()
) -> Reply:
    """An instant-query answer; each series is (labels, value) at time ``at``."""
    result = [{"metric": dict(labels), "value": [at, _format_value(v)]} for labels, v in series]
    return Reply(body=_success({"resultType": "vector", "result": result}, warnings))


def warning_reply(*warnings: str) -> Reply:
    """Thanos with a store down: HTTP 200, a (partial) result, and warnings."""
    labels = {"cluster": "east"}
    return matrix_reply([(labels, [(1000.0, 1.0)])], warnings=warnings or (
        "No StoreAPIs matched for this query",
    ))  # fmt: skip


def matrix_from_request(
    labels: Sequence[Mapping[str, str]], value: Callable[[Mapping[str, str], float], float]
) -> Callable[[RequestRecord], Reply]:
    """A responder that evaluates ``value(labels, t)`` on the request's start/end/step grid."""

    def respond(request: RequestRecord) -> Reply:
        start = float(request.params["start"])
        end = float(request.params["end"])
        step = float(request.params["step"])
        count = math.floor((end - start) / step + 1e-9) + 1
        if count > 11_000:
            return bad_data_400(
                "exceeded maximum resolution of 11,000 points per timeseries. "
                "Try decreasing the query resolution (?step=XX)"
            )
        times = [start + i * step for i in range(count)]
        return matrix_reply([(series, [(t, value(series, t)) for t in times]) for series in labels])

    return respond


def _error(status: int, error_type: str, message: str) -> Reply:
    return Reply(status, {"status": "error", "errorType": error_type, "error": message})


def bad_data_400(message: str = 'invalid parameter "query": 1:5: parse error') -> Reply:
    return _error(400, "bad_data", message)


def execution_422(message: str = "query processing would load too many samples") -> Reply:
    return _error(422, "execution", message)


def unavailable_503(message: str = "no store matched this query") -> Reply:
    return _error(503, "unavailable", message)


def frontend_timeout_504() -> Reply:
    """query-frontend giving up on a slow querier: plain text, not JSON."""
    return Reply(504, "context deadline exceeded\n", content_type="text/plain; charset=utf-8")


def garbage_200() -> Reply:
    """A proxy's login page served with status 200."""
    return Reply(200, "<html><body>Please sign in</body></html>", content_type="text/html")


@dataclass(frozen=True)
class SelfSigned:
    """A self-signed certificate (its own CA) for 127.0.0.1 and localhost, PEM files."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed_certificate(directory: Path, *, name: str = "thanos-fake") -> SelfSigned:
    """Make a fresh key and self-signed certificate in ``directory`` with ``openssl req``."""
    openssl = require_binary("openssl")
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"openssl req failed: {done.stderr.strip()[-2000:]}")
    return SelfSigned(cert, key)


class ThanosFake:
    """The server itself: bind to 127.0.0.1 on a free port, answer from the queue.

    With ``tls`` it serves HTTPS with that certificate (``url`` starts with https).
    """

    def __init__(self, *, default: Responder | None = None, tls: SelfSigned | None = None) -> None:
        self.default: Responder = default or Reply(
            body=_success({"resultType": "matrix", "result": []})
        )
        self.tls = tls
        self.requests: list[RequestRecord] = []
        self._queue: list[Responder] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    def queue(self, *replies: Responder) -> None:
        self._queue.extend(replies)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = self.tls.server_context() if self.tls else None
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"{'https' if context else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params: MultiDict[str] = MultiDict(request.query)
        if request.method == "POST":
            params.extend(await request.post())  # type: ignore[arg-type]
        record = RequestRecord(request.method, request.path, params, dict(request.headers))
        self.requests.append(record)
        responder = self._queue.pop(0) if self._queue else self.default
        reply = responder(record) if callable(responder) else responder
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.disconnect and request.transport is not None:
            request.transport.close()
            return web.Response(status=500)  # never reaches the client
        return web.Response(
            status=reply.status,
            body=reply.encoded(),
            headers={"Content-Type": reply.content_type, **reply.headers},
        )
