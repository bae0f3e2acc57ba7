"""What every route handler shares: the service context, authentication, JSON errors.

Both the Argo/Flagger webhooks (:mod:`auspice.webhooks.judgements`,
:mod:`auspice.webhooks.flagger`) and the Kayenta-compatible API
(:mod:`auspice.webhooks.kayenta_api`) are plain aiohttp handlers that get everything
from one :class:`ServiceContext` stored on the application under :data:`CONTEXT`:

    context = context_of(request)
    principal = require_role(request, Role.JUDGE)
    ...
    raise ApiError(404, "no template named 'x'", field="template")

Errors are raised as :class:`ApiError` and turned into JSON by the app's middleware, in
the shape Spring (and so Kayenta) answers with: ``{"status", "error", "message"}`` plus
``field`` (the JSON path of the offending input) and ``hint`` where known.

Time comes from ``context.clock``: a judgement's "now" is the context's clock, never
``time.time()``, so tests can place a look anywhere in backfilled data.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

from aiohttp import web

from auspice.analysis.templates import TemplateResolver
from auspice.clock import Clock
from auspice.metrics.source import MetricsSource
from auspice.specs.serve import ServeConfig
from auspice.storage import Storage
from auspice.webhooks.auth import Principal, Role, TokenAuth
from auspice.webhooks.judgements.memo import JudgementMemo
from auspice.webhooks.telemetry import ServiceMetrics

__all__ = [
    "CONTEXT",
    "ApiError",
    "InFlight",
    "Principal",
    "Role",
    "ServiceContext",
    "context_of",
    "error_body",
    "json_error",
    "require_role",
]

T = TypeVar("T")


class ApiError(Exception):
    """An HTTP error answer: status, a message naming the problem, the field, a hint."""

    def __init__(self, status: int, message: str, *, field: str | None = None,
                 hint: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.field = field
        self.hint = hint
        self.headers = headers or {}

    def response(self) -> web.Response:
        return json_error(self.status, self.message, field=self.field, hint=self.hint,
                          headers=self.headers)


def error_body(status: int, message: str, *, field: str | None = None,
               hint: str | None = None) -> dict[str, Any]:
    """The JSON object of an error answer."""
    body: dict[str, Any] = {"status": status, "error": _reason(status), "message": message}
    if field is not None:
        body["field"] = field
    if hint is not None:
        body["hint"] = hint
    return body


def json_error(status: int, message: str, *, field: str | None = None, hint: str | None = None,
               headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error response (see :func:`error_body`)."""
    return web.json_response(error_body(status, message, field=field, hint=hint),
                             status=status, headers=headers)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class InFlight:
    """Looks being computed, so a graceful shutdown can let them finish."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closing = False

    async def run(self, work: Awaitable[T]) -> T:
        """Run ``work`` as a tracked task; cancelling the caller cancels it too."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await task

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, *, within: float) -> int:
        """Wait up to ``within`` seconds for running looks; return how many were left."""
        self.closing = True
        pending = set(self._tasks)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=within)
        return len(pending)


@dataclass
class ServiceContext:
    """Everything the handlers share; built by :func:`auspice.webhooks.serve.build_context`."""

    config: ServeConfig
    source: MetricsSource
    store: Storage
    templates: TemplateResolver
    tokens: TokenAuth
    clock: Clock
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("auspice.webhooks"))
    inflight: InFlight = field(default_factory=InFlight)
    memo: JudgementMemo = field(default_factory=JudgementMemo)

    @property
    def look_deadline(self) -> float:
        """Seconds a look may take before the answer is ``error`` (under Argo's 10 s)."""
        return self.config.limits.look_deadline


CONTEXT: web.AppKey[ServiceContext] = web.AppKey("auspice_context", ServiceContext)


def context_of(request: web.Request) -> ServiceContext:
    return request.app[CONTEXT]


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header; ApiError 401 if malformed."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "the Authorization header is not 'Bearer <token>'",
                       hint="send Authorization: Bearer <token>",
                       headers={"WWW-Authenticate": 'Bearer error="invalid_request"'})
    return token.strip()


def require_role(request: web.Request, role: Role, *, token: str | None = None) -> Principal:
    """The caller, if allowed ``role``: ApiError 401 (who are you?) or 403 (not allowed).

    ``token`` is a token found elsewhere than the Authorization header (Flagger cannot
    send headers, so its webhooks carry one in ``metadata``); the header wins.
    """
    tokens = context_of(request).tokens
    presented = bearer_token(request) or token
    if presented is None:
        if tokens.anonymous is not None:
            principal = Principal("anonymous", tokens.anonymous)
        else:
            raise ApiError(401, "this call needs a bearer token",
                           hint="send Authorization: Bearer <token>",
                           headers={"WWW-Authenticate": "Bearer"})
    else:
        found = tokens.authenticate(presented)
        if found is None:
            raise ApiError(401, "the bearer token is not valid",
                           hint="check the token against the service's tokens file or Secret",
                           headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        principal = found
    if not principal.may(role):
        raise ApiError(403, f"{principal.name!r} has role {principal.role.label}; this call "
                       f"needs {role.label}", hint="use a token with a sufficient role")
    return principal
