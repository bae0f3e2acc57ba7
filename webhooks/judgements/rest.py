"""``/api/v1/judgements``: the endpoint of Argo Rollouts' ``web`` metric provider.

Argo sends ``POST`` with the AnalysisTemplate's ``jsonBody`` (its ``{{args.*}}``
already substituted), ``Content-Type: application/json`` and the headers the template
lists (``Authorization: Bearer ...``), waits ``timeoutSeconds`` (10 s by default) and
reads the answer with a JSONPath such as ``{$.verdict}``. A non-2xx answer is an Argo
*Error* (counted against ``consecutiveErrorLimit``), never a *Failure*, so:

* a look always answers 200 with ``verdict`` = ``pass`` / ``fail`` / ``continue`` /
  ``nodata`` / ``error`` and the reason, even when Prometheus is down or slow;
* only a request that can never work (bad JSON, unknown template, missing argument,
  no or a wrong token) gets a 4xx, whose message names the problem.

Also here: ``GET /api/v1/judgements/{id}`` (viewer), ``DELETE`` of a judgement so the
next call starts afresh (operator), ``GET /api/v1/templates`` and ``GET /api/v1/audit``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp import web

from auspice.storage import FINAL_VERDICTS
from auspice.webhooks.bodies import decode_json, validate
from auspice.webhooks.context import ApiError, Role, ServiceContext, context_of, require_role
from auspice.webhooks.judgements.judging import JudgementBody, Outcome, judge
from auspice.webhooks.judgements.memo import Answer

__all__ = ["add_routes"]


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/judgements", post_judgement, name="judgements")
    app.router.add_get("/api/v1/judgements/{id}", get_judgement, name="judgement")
    app.router.add_delete("/api/v1/judgements/{id}", delete_judgement)
    app.router.add_get("/api/v1/templates", list_templates, name="templates")
    app.router.add_get("/api/v1/audit", list_audit, name="audit")


async def post_judgement(request: web.Request) -> web.Response:
    """One look of a judgement (opened on the first call); always 200 once the input is valid.

    A body seen before whose answer still holds (a final verdict, or the same look
    within the cache TTL) is answered from memory, already serialized: that is what
    keeps many callers polling one canary cheap.
    """
    context = context_of(request)
    principal = require_role(request, Role.JUDGE)
    raw = await request.read()
    now = context.clock.now()
    remembered = context.memo.answer(raw, now=now)
    if remembered is not None:
        context.metrics.judgements.labels(verdict=remembered.verdict, api="web").inc()
        return _json_bytes(remembered.prefix + b', "now": "' + _iso(now).encode() + b'"}')
    body = validate(decode_json(raw), JudgementBody)
    outcome = await judge(context, body, principal=principal, api="web")
    payload = {**outcome.result, "created": outcome.created}
    _remember(context, raw, outcome, payload)
    return web.json_response(payload)


def _remember(context: ServiceContext, raw: bytes, outcome: Outcome,
              payload: dict[str, object]) -> None:
    final = outcome.verdict in FINAL_VERDICTS
    ttl = context.config.cache.ttl
    if not (final or ttl) or outcome.verdict == "error" or not outcome.interval:
        return
    kept = {k: v for k, v in payload.items() if k != "now"} | {"created": False}
    text = json.dumps(kept).encode()
    context.memo.remember_answer(raw, Answer(
        identifier=outcome.record.id, start=outcome.record.start, interval=outcome.interval,
        look=outcome.looks, final=final, expires=context.memo.expiry(ttl or 0.0),
        verdict=outcome.verdict, prefix=text[:-1]))


def _json_bytes(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


async def get_judgement(request: web.Request) -> web.Response:
    require_role(request, Role.VIEWER)
    record = await context_of(request).store.judgements.judgement(request.match_info["id"])
    if record is None:
        raise ApiError(404, f"no judgement {request.match_info['id']!r}", field="id")
    return web.json_response(record.to_dict())


async def delete_judgement(request: web.Request) -> web.Response:
    principal = require_role(request, Role.OPERATOR)
    identifier = request.match_info["id"]
    context = context_of(request)
    if not await context.store.judgements.delete_judgement(identifier, who=principal.name):
        raise ApiError(404, f"no judgement {identifier!r}", field="id")
    context.memo.forget(identifier)
    return web.json_response({"deleted": identifier})


async def list_templates(request: web.Request) -> web.Response:
    require_role(request, Role.VIEWER)
    return web.json_response({"templates": context_of(request).templates.names()})


async def list_audit(request: web.Request) -> web.Response:
    require_role(request, Role.OPERATOR)
    try:
        after = int(request.query.get("after", "0"))
        limit = min(1000, max(1, int(request.query.get("limit", "100"))))
    except ValueError:
        raise ApiError(400, "after and limit must be whole numbers", field="after") from None
    entries = await context_of(request).store.audit.entries(after=after, limit=limit)
    return web.json_response({"entries": [
        entry.to_dict() for entry in entries]})
