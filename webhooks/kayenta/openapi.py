"""The Kayenta-compatible routes in the service's OpenAPI document.

Request schemas are generated from the pydantic models the handlers validate with
(:mod:`auspice.webhooks.kayenta_models`), under names prefixed ``Kayenta`` so they
cannot collide with the other APIs' schemas.
"""

from __future__ import annotations

from typing import Any

from auspice.webhooks.kayenta.models import AdhocExecutionRequest, CanaryConfig, ExecutionRequest

__all__ = ["paths_and_schemas"]


def paths_and_schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """The routes for ``/api/v1/openapi.json``; schemas straight from the models."""
    schemas: dict[str, Any] = {}
    for model in (CanaryConfig, ExecutionRequest, AdhocExecutionRequest):
        schema = model.model_json_schema(ref_template="#/components/schemas/Kayenta{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas[f"Kayenta{name}"] = definition
        schemas[f"Kayenta{model.__name__}"] = schema

    def ref(name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/Kayenta{name}"}

    def answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        content = {"application/json": {"schema": schema or {"type": "object"}}}
        return {"description": description, "content": content}

    def body(name: str) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": ref(name)}}}

    def query(*names: str) -> list[dict[str, Any]]:
        return [{"name": n, "in": "query", "schema": {"type": "string"}} for n in names]

    def path(name: str) -> list[dict[str, Any]]:
        return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}]

    errors = {
        "400": answer("invalid request; the field is named"),
        "401": answer("no bearer token (and kayenta.allowAnonymous not set)"),
        "403": answer("the token's role does not allow this call"),
    }
    started = answer(
        "accepted", {"type": "object", "properties": {"canaryExecutionId": {"type": "string"}}}
    )
    busy = answer("kayenta.maxRunning executions are running; retry after Retry-After")
    security = [{"bearer": []}, {}]
    paths = {
        "/canaryConfig": {
            "get": {
                "summary": "Kayenta: canary configs (id, name, applications)",
                "security": security,
                "parameters": query("application", "configurationAccountName"),
                "responses": {"200": answer("configs", {"type": "array"}), **errors},
            },
            "post": {
                "summary": "Kayenta: store a canary config (operator); audited",
                "security": security,
                "requestBody": body("CanaryConfig"),
                "responses": {
                    "200": answer(
                        "stored",
                        {"type": "object", "properties": {"canaryConfigId": {"type": "string"}}},
                    ),
                    **errors,
                },
            },
        },
        "/canaryConfig/{configId}": {
            "get": {
                "summary": "Kayenta: one canary config",
                "security": security,
                "parameters": path("configId"),
                "responses": {
                    "200": answer("the config", ref("CanaryConfig")),
                    "404": answer("no such config"),
                    **errors,
                },
            }
        },
        "/canary/{configId}": {
            "post": {
                "summary": "Kayenta: start a canary execution of a stored config (judge); audited",
                "security": security,
                "parameters": path("configId")
                + query(
                    "application",
                    "parentPipelineExecutionId",
                    "metricsAccountName",
                    "configurationAccountName",
                    "storageAccountName",
                ),
                "requestBody": body("ExecutionRequest"),
                "responses": {
                    "200": started,
                    "429": busy,
                    "404": answer("no such config"),
                    **errors,
                },
            }
        },
        "/canary": {
            "post": {
                "summary": "Kayenta: start a canary execution with an inline config (judge)",
                "security": security,
                "parameters": query("metricsAccountName", "storageAccountName"),
                "requestBody": body("AdhocExecutionRequest"),
                "responses": {"200": started, "429": busy, **errors},
            }
        },
        "/canary/{executionId}": {
            "get": {
                "summary": "Kayenta: status and result of a canary execution (complete, status, "
                "result.judgeResult.score.score)",
                "security": security,
                "parameters": path("executionId"),
                "responses": {
                    "200": answer("the execution"),
                    "404": answer("no such execution"),
                    **errors,
                },
            }
        },
    }
    return paths, schemas
