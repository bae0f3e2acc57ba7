"""Operations endpoints: ``/healthz``, ``/readyz``, ``/metrics``, ``/api/v1/openapi.json``.

``/healthz`` says the process serves requests (for a liveness probe: it never touches
Prometheus or the disk, so a metrics outage does not restart the pod). ``/readyz``
checks what a look needs: the metrics source answers a trivial query and the state
file takes a write; it answers 503 with the failing check while either is down or the
service is shutting down, so a load balancer stops sending new looks. These three are
unauthenticated, like every probe and scrape endpoint; the OpenAPI document is too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from auspice.errors import AuspiceError
from auspice.metrics.source import NoDataError
from auspice.webhooks.context import ServiceContext, context_of
from auspice.webhooks.judgements.judging import refresh_open_gauge
from auspice.webhooks.openapi import document

__all__ = ["add_routes", "readiness"]

PROBE_TIMEOUT = 3.0


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics, name="metrics")
    app.router.add_get("/api/v1/openapi.json", openapi, name="openapi")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks = await readiness(context_of(request))
    ready = all(check["ok"] for check in checks.values())
    return web.json_response({"status": "ready" if ready else "not ready", "checks": checks},
                             status=200 if ready else 503)


async def readiness(context: ServiceContext) -> dict[str, dict[str, Any]]:
    """Each check's result: ``{"ok": bool, "detail": str}``."""
    source, store = await asyncio.gather(_check_source(context), _check_store(context))
    checks = {"metrics_source": source, "store": store}
    if context.inflight.closing:
        checks["shutdown"] = {"ok": False, "detail": "the service is shutting down"}
    return checks


async def _check_source(context: ServiceContext) -> dict[str, Any]:
    now = context.clock.now()
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await context.source.query_range("vector(1)", now, now, 1.0)
    except NoDataError:
        pass  # the server answered: reachable
    except TimeoutError:
        return {"ok": False, "detail": f"no answer within {PROBE_TIMEOUT:g} s"}
    except (AuspiceError, OSError) as error:
        return {"ok": False, "detail": str(error)}
    return {"ok": True, "detail": "answers queries"}


async def _check_store(context: ServiceContext) -> dict[str, Any]:
    try:
        await context.store.database.check_writable()
    except (AuspiceError, OSError) as error:
        return {"ok": False, "detail": str(error)}
    return {"ok": True, "detail": "writable"}


async def metrics(request: web.Request) -> web.Response:
    context = context_of(request)
    try:
        await refresh_open_gauge(context)
    except AuspiceError:
        pass  # the scrape still shows everything else; /readyz reports the store
    body = generate_latest(context.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app))
