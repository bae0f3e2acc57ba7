"""Flagger's webhooks: ``pre-rollout``, ``rollout`` and the ``confirm-promotion`` gate.

Flagger POSTs ``{"name", "namespace", "phase", "checksum", "metadata"}`` with
``Content-Type: application/json`` and treats any status above 202 as a failed check
(and a timeout too), putting the response body into its events. It cannot send
headers, so the bearer token travels in ``metadata.token`` (keep the Canary in a
namespace whose readers may see it, or use ``auth.allowAnonymous: judge`` behind a
NetworkPolicy). ``metadata`` is a map of strings, so the judgement's fields are flat:

``template`` (required), ``canary.version|workload|namespace|cluster``,
``baseline.version|workload|namespace|cluster``, ``args.<name>``, ``start``, ``token``.

Defaults follow Flagger's naming: the canary workload is ``name``, the baseline
``name-primary``, both in ``namespace``. The judgement key is the template, the
canary (``namespace/name``) and Flagger's ``checksum`` of the canary's spec, so a new
revision opens a new judgement and a retried one continues.

Answers: ``pre-rollout`` opens the judgement (records its start just before traffic
moves; 409 if this revision was already judged FAIL). ``rollout`` answers 200 while
the verdict is pass, continue or nodata, 409 when the analysis failed, 503 when the
look itself failed (Flagger counts it as a failed check: its ``threshold`` bounds how
long a metrics outage may last). ``confirm-promotion`` answers 200 only on PASS, 409
on FAIL and 423 (gate closed) otherwise.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from auspice.webhooks.bodies import read_json, validation_error
from auspice.webhooks.context import ApiError, Principal, Role, context_of, require_role
from auspice.webhooks.judgements.judging import JudgementBody, identity, judge, open_judgement

__all__ = ["FlaggerPayload", "add_routes", "judgement_body"]

SCOPE_FIELDS = ("version", "workload", "namespace", "cluster")
Text = Annotated[str, StringConstraints(max_length=253)]


class FlaggerPayload(BaseModel):
    """Flagger's webhook payload; fields Flagger may add later are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    namespace: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    phase: Text = ""
    checksum: Text = ""
    metadata: dict[Annotated[str, StringConstraints(max_length=128)],
                   Annotated[str, StringConstraints(max_length=4096)]] = Field(
                       default_factory=dict)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/flagger/pre-rollout", pre_rollout, name="flagger-pre-rollout")
    app.router.add_post("/api/v1/flagger/rollout", rollout, name="flagger-rollout")
    app.router.add_post("/api/v1/flagger/confirm-promotion", confirm_promotion,
                        name="flagger-confirm-promotion")


async def pre_rollout(request: web.Request) -> web.Response:
    principal, body = await _read(request)
    context = context_of(request)
    _, _, record, created = await open_judgement(context, body, principal=principal)
    now = context.clock.now()
    final = context.memo.finals.get(record.id)
    if final is not None and final["verdict"] == "fail":
        return _answer(409, f"this revision of {body.rollout} was already judged FAIL: "
                       f"{final.get('reason')}", {"verdict": "fail", **identity(record, now)})
    verdict = final["verdict"] if final is not None else "continue"
    return _answer(200, "judgement opened" if created else "judgement continues",
                   {"verdict": verdict, "created": created, **identity(record, now)})


async def rollout(request: web.Request) -> web.Response:
    principal, body = await _read(request)
    outcome = await judge(context_of(request), body, principal=principal, api="flagger")
    status = {"fail": 409, "error": 503}.get(outcome.verdict, 200)
    return _answer(status, _message(outcome.result), _compact(outcome.result))


async def confirm_promotion(request: web.Request) -> web.Response:
    principal, body = await _read(request)
    outcome = await judge(context_of(request), body, principal=principal, api="flagger")
    status = {"pass": 200, "fail": 409}.get(outcome.verdict, 423)
    message = _message(outcome.result)
    if status == 423:
        message = f"promotion gate closed until the verdict is pass: {message}"
    return _answer(status, message, _compact(outcome.result))


async def _read(request: web.Request) -> tuple[Principal, JudgementBody]:
    """Authenticate (header or ``metadata.token``) and turn the payload into a judgement."""
    data = await read_json(request)
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    token = metadata.get("token") if isinstance(metadata.get("token"), str) else None
    principal = require_role(request, Role.JUDGE, token=token)
    try:
        payload = FlaggerPayload.model_validate(data)
    except ValidationError as error:
        raise validation_error(error) from None
    return principal, judgement_body(payload)


def judgement_body(payload: FlaggerPayload) -> JudgementBody:
    """The judgement a Flagger payload asks for (see the module docstring for the keys)."""
    scopes: dict[str, dict[str, str]] = {
        "canary": {"workload": payload.name, "namespace": payload.namespace},
        "baseline": {"workload": f"{payload.name}-primary", "namespace": payload.namespace},
    }
    args: dict[str, str] = {}
    top: dict[str, Any] = {}
    for key, value in payload.metadata.items():
        side, _, field = key.partition(".")
        if side in scopes and field in SCOPE_FIELDS:
            scopes[side][field] = value
        elif side == "args" and field:
            args[field] = value
        elif key in ("template", "start"):
            top[key] = value
        elif key != "token":
            raise ApiError(400, f"metadata.{key}: unknown key", field=f"metadata.{key}",
                           hint="use template, token, start, canary.<field>, "
                           "baseline.<field> (fields: version, workload, namespace, "
                           "cluster) or args.<name>")
    if "template" not in top:
        raise ApiError(400, "metadata.template: this field is required",
                       field="metadata.template",
                       hint="name the Auspice template in the webhook's metadata")
    try:
        return JudgementBody.model_validate({
            **top, "rollout": f"{payload.namespace}/{payload.name}",
            "canary": scopes["canary"], "baseline": scopes["baseline"], "args": args,
            "release": payload.checksum or None})
    except ValidationError as error:
        raise validation_error(error) from None


def _message(result: dict[str, Any] | Any) -> str:
    return f"verdict {result['verdict']}: {result.get('reason', '')}"


def _compact(result: Any) -> dict[str, Any]:
    keep = ("verdict", "reason", "judgement", "template", "rollout", "canary", "start",
            "now", "look", "elapsed_seconds", "score", "numbers", "pass", "fail", "done")
    return {k: result[k] for k in keep if k in result}


def _answer(status: int, message: str, body: dict[str, Any]) -> web.Response:
    return web.json_response({"message": message, **body}, status=status)
