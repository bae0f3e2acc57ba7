"""The OpenAPI 3.1 description served at ``/api/v1/openapi.json``.

Request schemas come from the pydantic models the handlers validate with, so the
document cannot drift from what the service accepts. Other route modules (the
Kayenta-compatible API) add their own paths with :func:`add_paths` when they mount.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from auspice import __version__

__all__ = ["OPENAPI", "add_paths", "document", "error_answer", "json_answer",
           "model_schemas"]

OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("auspice_openapi", dict)

_BEARER = [{"bearer": []}]


def error_answer(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def json_answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": schema or {"type": "object"}}}}


_AUTH_ERRORS = {"401": error_answer("no bearer token, or not a known one"),
                "403": error_answer("the token's role does not allow this call")}


def base_document() -> dict[str, Any]:
    from auspice.webhooks.judgements.flagger import FlaggerPayload
    from auspice.webhooks.judgements.judging import JudgementBody

    flagger_body = {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/FlaggerPayload"}}}}
    flagger_errors = {"400": error_answer("invalid payload or metadata (field named)"),
                      "404": error_answer("unknown template"), **_AUTH_ERRORS}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Auspice", "version": __version__,
                 "description": "Canary analysis webhooks: Argo Rollouts web provider, "
                 "Flagger webhooks, judgement state and operations."},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                **model_schemas(JudgementBody, FlaggerPayload),
                "Error": {"type": "object", "required": ["status", "error", "message"],
                          "properties": {"status": {"type": "integer"},
                                         "error": {"type": "string"},
                                         "message": {"type": "string"},
                                         "field": {"type": "string"},
                                         "hint": {"type": "string"}}},
                "Verdict": {"type": "object", "required": ["verdict", "reason"],
                            "properties": {
                                "verdict": {"enum": ["pass", "fail", "continue", "nodata",
                                                     "error"]},
                                "reason": {"type": "string"},
                                "judgement": {"type": "string"},
                                "start": {"type": "string", "format": "date-time"},
                                "look": {"type": "integer"},
                                "pass": {"type": "boolean"}, "fail": {"type": "boolean"},
                                "done": {"type": "boolean"},
                                "numbers": {"type": "object"},
                                "metrics": {"type": "array", "items": {"type": "object"}}}},
            },
        },
        "paths": {
            "/api/v1/judgements": {"post": {
                "summary": "One look of a judgement (Argo Rollouts web provider); opens it "
                           "on the first call",
                "security": _BEARER,
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/JudgementBody"}}}},
                "responses": {"200": json_answer("the verdict so far (also for failed looks: "
                                           "verdict error)",
                                           {"$ref": "#/components/schemas/Verdict"}),
                              "400": error_answer("invalid body (field named), missing argument"),
                              "404": error_answer("unknown template"),
                              "413": error_answer("body over the size limit"), **_AUTH_ERRORS}}},
            "/api/v1/judgements/{id}": {
                "get": {"summary": "A judgement's recorded start and last look",
                        "security": _BEARER,
                        "parameters": [{"name": "id", "in": "path", "required": True,
                                        "schema": {"type": "string"}}],
                        "responses": {"200": json_answer("the judgement"),
                                      "404": error_answer("no such judgement"), **_AUTH_ERRORS}},
                "delete": {"summary": "Forget a judgement (operator); audited",
                           "security": _BEARER,
                           "parameters": [{"name": "id", "in": "path", "required": True,
                                           "schema": {"type": "string"}}],
                           "responses": {"200": json_answer("deleted"),
                                         "404": error_answer("no such judgement"),
                                         **_AUTH_ERRORS}}},
            "/api/v1/flagger/pre-rollout": {"post": {
                "summary": "Flagger pre-rollout hook: opens the judgement",
                "requestBody": flagger_body,
                "responses": {"200": json_answer("opened or continuing"),
                              "409": json_answer("this revision was already judged FAIL"),
                              **flagger_errors}}},
            "/api/v1/flagger/rollout": {"post": {
                "summary": "Flagger rollout hook: one look",
                "requestBody": flagger_body,
                "responses": {"200": json_answer("pass, continue or nodata"),
                              "409": json_answer("the analysis failed"),
                              "503": json_answer("the look failed (metrics source)"),
                              **flagger_errors}}},
            "/api/v1/flagger/confirm-promotion": {"post": {
                "summary": "Flagger confirm-promotion gate: open only on PASS",
                "requestBody": flagger_body,
                "responses": {"200": json_answer("pass: promote"),
                              "409": json_answer("the analysis failed"),
                              "423": json_answer("gate closed: no PASS yet"), **flagger_errors}}},
            "/api/v1/templates": {"get": {"summary": "Template names", "security": _BEARER,
                                          "responses": {"200": json_answer("names"),
                                                        **_AUTH_ERRORS}}},
            "/api/v1/audit": {"get": {
                "summary": "Audit log (operator)", "security": _BEARER,
                "parameters": [{"name": "after", "in": "query", "schema": {"type": "integer"}},
                               {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                "responses": {"200": json_answer("entries"), **_AUTH_ERRORS}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": json_answer("ok")}}},
            "/readyz": {"get": {"summary": "Readiness: metrics source and store",
                                "responses": {"200": json_answer("ready"),
                                              "503": json_answer("a check failed")}}},
            "/api/v1/openapi.json": {"get": {"summary": "This document",
                                             "responses": {"200": json_answer("OpenAPI 3.1")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics of the service",
                                 "responses": {"200": {"description": "text exposition"}}}},
        },
    }


def model_schemas(*models: type[BaseModel], by_alias: bool = True) -> dict[str, Any]:
    """Component schemas of ``models`` and of every model they use, each under its name.

    pydantic nests the schemas a model refers to under its own ``$defs``; OpenAPI wants
    them beside it in ``components.schemas``, where the ``$ref``s point."""
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(by_alias=by_alias,
                                         ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def add_paths(app: web.Application, paths: dict[str, Any],
              schemas: dict[str, Any] | None = None) -> None:
    """Add ``paths`` (and component ``schemas``) to the app's OpenAPI document."""
    doc = app.setdefault(OPENAPI, base_document())
    doc["paths"].update(copy.deepcopy(paths))
    doc["components"]["schemas"].update(copy.deepcopy(schemas or {}))


def document(app: web.Application) -> dict[str, Any]:
    if OPENAPI not in app:
        return base_document()
    return app[OPENAPI]
