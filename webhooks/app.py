"""The aiohttp application: routes, error handling, size limits, request metrics.

:func:`create_app` is the one place that assembles the service from a
:class:`~auspice.webhooks.context.ServiceContext`: the judgement webhook (Argo Rollouts'
``web`` provider), Flagger's webhooks, the operations endpoints and the
Kayenta-compatible API; the rollouts API is added by
:func:`auspice.webhooks.serve.serve` with its orchestrator. Tests build the app around a
context with a fake source and a virtual clock; ``auspice serve`` builds it around the
real ones."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from auspice.analysis.templates import UnknownTemplateError
from auspice.errors import AuspiceError, ConfigError, InputError
from auspice.webhooks import ops
from auspice.webhooks.context import CONTEXT, ApiError, ServiceContext, json_error
from auspice.webhooks.judgements import flagger, rest
from auspice.webhooks.kayenta import api as kayenta
from auspice.webhooks.openapi import OPENAPI, base_document
from auspice.webhooks.telemetry import log_event

__all__ = ["create_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(context: ServiceContext) -> web.Application:
    """The whole HTTP service around ``context``."""
    app = web.Application(client_max_size=context.config.limits.max_body_bytes,
                          middlewares=[_count_requests, _errors])
    app[CONTEXT] = context
    app[OPENAPI] = base_document()
    ops.add_routes(app)
    rest.add_routes(app)
    flagger.add_routes(app)
    kayenta.add_routes(app)
    app.on_shutdown.append(_drain_looks)
    return app


async def _drain_looks(app: web.Application) -> None:
    context = app[CONTEXT]
    left = await context.inflight.drain(within=context.config.limits.shutdown_timeout)
    log_event(context.log, "shutdown", looks_unfinished=left)


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a JSON error that names the problem."""
    try:
        return await handler(request)
    except ApiError as error:
        return error.response()
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return json_error(error.status, _http_message(request, error))
    except UnknownTemplateError as error:
        return json_error(404, str(error), field="template")
    except (ConfigError, InputError) as error:
        return json_error(400, str(error))
    except AuspiceError as error:
        log_event(request.app[CONTEXT].log, "request.error", level=logging.ERROR,
                  path=request.path, error=str(error))
        return json_error(500, str(error))
    except Exception:
        request.app[CONTEXT].log.exception("unexpected error", extra={
            "event": "request.crash", "path": request.path})
        return json_error(500, "internal error; the service log has the details")


def _http_message(request: web.Request, error: web.HTTPException) -> str:
    if error.status == 413:
        limit = request.app[CONTEXT].config.limits.max_body_bytes
        return f"the request body is larger than the limit of {limit} bytes"
    if error.status == 404:
        return f"no such endpoint: {request.method} {request.path}"
    if error.status == 405:
        return f"method {request.method} is not allowed on {request.path}"
    return error.reason


@web.middleware
async def _count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    request.app[CONTEXT].metrics.http_requests.labels(
        route=name, method=request.method, status=str(response.status)).inc()
    return response
