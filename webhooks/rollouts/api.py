"""The rollouts API: start, read, approve and abort rollouts, and follow their events.

=====================================================  ========  ============================
route                                                  role      answer
=====================================================  ========  ============================
``POST /api/v1/rollouts`` (a RolloutPlan as JSON,      operator  201 ``{"id", "state", ...}``
or ``{"plan": {...}}`` or ``{"planYaml": "..."}``)
``GET /api/v1/rollouts``                               viewer    ``{"rollouts": [...]}``
``GET /api/v1/rollouts/{id}``                          viewer    the rollout, its clusters
``POST /api/v1/rollouts/{id}/approve``                 operator  the rollout
``POST /api/v1/rollouts/{id}/abort`` (``{"reason"}``)  operator  per-cluster rollback, revert
``GET /api/v1/rollouts/{id}/events``                   viewer    server-sent events
=====================================================  ========  ============================

The routes drive an :class:`~auspice.orchestrator.Orchestrator` stored on the app under
:data:`ORCHESTRATOR`; :func:`add_routes` installs both and makes the app resume every
unfinished rollout on startup and stop the drivers (not roll back) on shutdown. The
caller's token name is the ``who`` of every audit entry.

The event stream sends every audit entry of the rollout as an SSE event (``id`` is the
entry's number, ``event`` what happened, ``data`` the JSON entry), from the start or
after ``Last-Event-ID`` (or ``?after=N``), follows new entries as they are written,
sends a comment every 15 s to keep proxies from closing the stream, and ends once the
rollout is final and has no cluster left to roll back.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from auspice.errors import ConfigError
from auspice.rollouts.orchestrator import Orchestrator, RolloutNotFound
from auspice.rollouts.states import IllegalTransition
from auspice.rollouts.store import RolloutRecord
from auspice.specs import SpecError, parse_text
from auspice.specs.plan import RolloutPlan, plan_from_data
from auspice.webhooks.bodies import read_json
from auspice.webhooks.context import ApiError, Role, require_role
from auspice.webhooks.openapi import add_paths, error_answer, json_answer, model_schemas

__all__ = ["ORCHESTRATOR", "add_routes"]

ORCHESTRATOR: web.AppKey[Orchestrator] = web.AppKey("auspice_orchestrator", Orchestrator)
HEARTBEAT_SECONDS = 15.0


def add_routes(app: web.Application, orchestrator: Orchestrator | None = None) -> None:
    """Add the rollout routes; with ``orchestrator``, also store it and resume on startup."""
    if orchestrator is not None:
        app[ORCHESTRATOR] = orchestrator
        app.on_startup.append(_resume)
        app.on_shutdown.append(_stop)
    app.router.add_post("/api/v1/rollouts", start)
    app.router.add_get("/api/v1/rollouts", listing)
    app.router.add_get("/api/v1/rollouts/{id}", status)
    app.router.add_post("/api/v1/rollouts/{id}/approve", approve)
    app.router.add_post("/api/v1/rollouts/{id}/abort", abort)
    app.router.add_get("/api/v1/rollouts/{id}/events", events)
    add_paths(app, _openapi_paths(), model_schemas(RolloutPlan))


def _openapi_paths() -> dict[str, Any]:
    """The routes above in the service's OpenAPI document."""
    rollout_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    auth = {"401": error_answer("no bearer token, or not a known one"),
            "403": error_answer("the token's role does not allow this call"),
            "503": error_answer("this service does not run rollouts (no rollouts: configuration)")}
    plan = {"required": True, "content": {"application/json": {"schema": {"oneOf": [
        {"$ref": "#/components/schemas/RolloutPlan"},
        {"type": "object", "required": ["plan"], "properties": {
            "plan": {"$ref": "#/components/schemas/RolloutPlan"}}},
        {"type": "object", "required": ["planYaml"], "properties": {
            "planYaml": {"type": "string"}}}]}}}}
    reason = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["reason"],
        "properties": {"reason": {"type": "string", "minLength": 1}}}}}}

    def call(summary: str, answers: dict[str, Any], **more: Any) -> dict[str, Any]:
        return {"summary": summary, "security": [{"bearer": []}],
                "responses": {**answers, **auth}, **more}

    return {
        "/api/v1/rollouts": {
            "post": call("Start a rollout of a RolloutPlan (operator)",
                         {"201": json_answer("the rollout"), "400": error_answer("not JSON"),
                          "422": error_answer("the plan is invalid (field named) or names an "
                                        "unknown template")}, requestBody=plan),
            "get": call("Every rollout of the state file (viewer)",
                        {"200": json_answer("rollouts")})},
        "/api/v1/rollouts/{id}": {"get": call(
            "A rollout: state, wave, clusters, outcome, revert (viewer)",
            {"200": json_answer("the rollout"), "404": error_answer("no such rollout")},
            parameters=rollout_id)},
        "/api/v1/rollouts/{id}/approve": {"post": call(
            "Let the wave waiting for approval start (operator)",
            {"200": json_answer("the rollout"), "404": error_answer("no such rollout"),
             "409": error_answer("the rollout is not waiting for an approval")},
            parameters=rollout_id)},
        "/api/v1/rollouts/{id}/abort": {"post": call(
            "Abort: cancel the steps, roll back every touched cluster, revert (operator)",
            {"200": json_answer("per-cluster rollback outcome and the revert"),
             "400": error_answer("no reason given"), "404": error_answer("no such rollout")},
            parameters=rollout_id, requestBody=reason)},
        "/api/v1/rollouts/{id}/events": {"get": call(
            "The audit log as server-sent events, then live (viewer)",
            {"200": {"description": "text/event-stream"}, "404": error_answer("no such rollout")},
            parameters=[*rollout_id, {"name": "after", "in": "query",
                                      "schema": {"type": "integer"}}])},
    }


async def _resume(app: web.Application) -> None:
    await app[ORCHESTRATOR].resume_all()


async def _stop(app: web.Application) -> None:
    await app[ORCHESTRATOR].close()


def _orchestrator(request: web.Request) -> Orchestrator:
    try:
        return request.app[ORCHESTRATOR]
    except KeyError:
        raise ApiError(503, "this service does not run rollouts",
                       hint="give auspice serve a rollouts: section in its configuration "
                       "(docs/rollouts.md)") from None


async def _record(orchestrator: Orchestrator, rollout: str) -> RolloutRecord:
    try:
        return await orchestrator.status(rollout)
    except RolloutNotFound as error:
        raise ApiError(404, str(error), field="id") from None


def _plan(body: dict[str, Any]) -> RolloutPlan:
    try:
        if "planYaml" in body:
            plans = parse_text(str(body["planYaml"]), RolloutPlan, source="planYaml")
            if len(plans) != 1:
                raise ApiError(400, f"planYaml holds {len(plans)} plans, not one",
                               field="planYaml")
            return plans[0]
        return plan_from_data(body.get("plan", body), source="request body")
    except SpecError as error:
        raise ApiError(422, "; ".join(p.message for p in error.problems),
                       field=error.problems[0].field if error.problems else None,
                       hint="auspice validate checks a plan before it is sent") from None


async def start(request: web.Request) -> web.Response:
    principal = require_role(request, Role.OPERATOR)
    plan = _plan(await read_json(request))
    orchestrator = _orchestrator(request)
    try:
        rollout = await orchestrator.start(plan, who=principal.name)
    except ConfigError as error:
        raise ApiError(422, str(error), field="spec") from None
    record = await _record(orchestrator, rollout)
    return web.json_response(_view(request, record), status=201)


async def listing(request: web.Request) -> web.Response:
    require_role(request, Role.VIEWER)
    orchestrator = _orchestrator(request)
    records = [await _record(orchestrator, r) for r in await orchestrator.store.ids()]
    return web.json_response({"rollouts": [
        {"id": r.id, "name": r.name, "state": r.state.value, "wave": r.wave,
         "created_at": r.created_at, "created_by": r.created_by} for r in records]})


async def status(request: web.Request) -> web.Response:
    require_role(request, Role.VIEWER)
    record = await _record(_orchestrator(request), request.match_info["id"])
    return web.json_response(_view(request, record))


async def approve(request: web.Request) -> web.Response:
    principal = require_role(request, Role.OPERATOR)
    orchestrator = _orchestrator(request)
    await _record(orchestrator, request.match_info["id"])
    try:
        record = await orchestrator.approve(request.match_info["id"], who=principal.name)
    except IllegalTransition as error:
        raise ApiError(409, str(error)) from None
    return web.json_response(_view(request, record))


async def abort(request: web.Request) -> web.Response:
    principal = require_role(request, Role.OPERATOR)
    body = await read_json(request)
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ApiError(400, "an abort needs a reason", field="reason",
                       hint='send {"reason": "what is happening"}; it goes into the audit '
                       "log and the revert commit")
    orchestrator = _orchestrator(request)
    await _record(orchestrator, request.match_info["id"])
    report = await orchestrator.abort(request.match_info["id"], who=principal.name,
                                      reason=reason.strip())
    return web.json_response(report.to_dict())


async def events(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.VIEWER)
    orchestrator = _orchestrator(request)
    rollout = request.match_info["id"]
    await _record(orchestrator, rollout)
    after = _after(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    await response.prepare(request)
    while True:
        version = orchestrator.store.version
        record = await _record(orchestrator, rollout)  # before the events: none is missed
        for entry in await orchestrator.store.events(rollout, after=after):
            data = json.dumps(entry.to_dict(), separators=(",", ":"), default=str)
            await response.write(f"id: {entry.n}\nevent: {entry.what}\ndata: {data}\n\n"
                                 .encode())
            after = entry.n
        if record.state.final and not record.pending_rollback:
            break
        await orchestrator.store.wait_for_change(HEARTBEAT_SECONDS, since=version)
        await response.write(b": keep-alive\n\n")
    await response.write_eof()
    return response


def _after(request: web.Request) -> int:
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    try:
        return max(0, int(raw))
    except ValueError:
        raise ApiError(400, f"Last-Event-ID/after must be an event number, got {raw!r}",
                       field="after") from None


def _view(request: web.Request, record: RolloutRecord) -> dict[str, Any]:
    return {**record.to_dict(), "events": f"/api/v1/rollouts/{record.id}/events"}
