"""Argo Rollouts' ``kayenta`` metric provider, replayed request for request.

Argo Rollouts (``metricproviders/kayenta/kayenta.go``) measures a ``kayenta`` metric so:

1. ``GET {address}/canaryConfig?application={application}&configurationAccountName=
   {storageAccountName}`` (sic: it passes the storage account there), decodes a JSON
   list of ``{id, name, updatedTimestamp, updatedTimestampIso, applications}`` and
   takes the id of the entry whose ``name`` is ``canaryConfigName``; any status but 200
   is an error;
2. ``POST {address}/canary/{id}?application=..&metricsAccountName=..&
   configurationAccountName=..&storageAccountName=..`` with ``Content-Type:
   application/json`` and a body written with ``fmt.Sprintf`` (Go's ``json.Marshal`` of
   each ``ScopeDetail``: ``scope``, ``region``, ``step``, ``start``, ``end``, always all
   five); any status but 200 is an error; it reads ``canaryExecutionId``;
3. every 15 s, ``GET {address}/canary/{executionId}`` (no parameters); ``complete``
   must be present; while false it waits; when true it reads
   ``result.judgeResult.score.score`` (missing: error), truncates it to an int and
   compares it with the thresholds: >= pass Successful, >= marginal Inconclusive, else
   Failed.

No header besides Content-Type is sent: the provider has no way to add one.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

POLL_INTERVAL = 0.05  # Argo waits 15 s; the tests need not
MAX_POLLS = 600


@dataclass(frozen=True)
class ScopeDetail:
    scope: str
    start: str
    end: str
    step: int
    region: str = ""

    def go_json(self) -> str:
        # encoding/json writes struct fields in declaration order, no spaces
        return json.dumps(
            {
                "scope": self.scope,
                "region": self.region,
                "step": self.step,
                "start": self.start,
                "end": self.end,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class KayentaMetric:
    application: str
    canary_config_name: str
    control: ScopeDetail
    experiment: ScopeDetail
    scope_name: str = "default"
    metrics_account_name: str = "prometheus-account"
    configuration_account_name: str = "configs-account"
    storage_account_name: str = "storage-account"
    pass_threshold: int = 95
    marginal_threshold: int = 75


@dataclass(frozen=True)
class Measurement:
    phase: str  # Successful, Inconclusive, Failed or Error
    value: str | None
    execution_id: str | None
    status: dict[str, Any] | None
    error: str | None = None


def _job_payload(metric: KayentaMetric) -> str:
    scope = (
        f'"{metric.scope_name}":{{"controlScope": {metric.control.go_json()}, '
        f'"experimentScope": {metric.experiment.go_json()}}}'
    )
    return (
        '\n\t\t\t\t\t\t\t{\n\t\t\t\t\t\t\t\t"scopes": {\n\t\t\t\t\t\t\t\t\t\t'
        + scope
        + '\n\t\t\t\t\t\t\t\t},\n                                "thresholds" : {\n'
        f'                                    "pass": {metric.pass_threshold},\n'
        f'                                    "marginal": {metric.marginal_threshold}\n'
        "                                }\n                            }"
    )


def _evaluate(score: int, metric: KayentaMetric) -> str:
    if score >= metric.pass_threshold:
        return "Successful"
    if score >= metric.marginal_threshold:
        return "Inconclusive"
    return "Failed"


async def measure(client: TestClient, metric: KayentaMetric) -> Measurement:
    """One measurement, exactly as Argo Rollouts' Run and Resume would take it."""
    lookup = await client.get(
        f"/canaryConfig?application={metric.application}"
        f"&configurationAccountName={metric.storage_account_name}"
    )
    if lookup.status != 200:
        return Measurement("Error", None, None, None, f"Invalid Response {lookup.status}")
    configs = json.loads(await lookup.read())
    config_id = next((c["id"] for c in configs if c["name"] == metric.canary_config_name), "")
    job = await client.post(
        f"/canary/{config_id}?application={metric.application}"
        f"&metricsAccountName={metric.metrics_account_name}"
        f"&configurationAccountName={metric.configuration_account_name}"
        f"&storageAccountName={metric.storage_account_name}",
        data=_job_payload(metric).encode(),
        headers={"Content-Type": "application/json"},
    )
    if job.status != 200:
        return Measurement(
            "Error", None, None, None, f"Invalid Response {job.status}: {await job.text()}"
        )
    execution_id = str(json.loads(await job.read())["canaryExecutionId"])
    for _ in range(MAX_POLLS):
        answer = await client.get(f"/canary/{execution_id}")
        if answer.status != 200:
            return Measurement("Error", None, execution_id, None, "Invalid Response")
        status = json.loads(await answer.read())
        if "complete" not in status or not isinstance(status["complete"], bool):
            return Measurement("Error", None, execution_id, status, "Missing Complete Status")
        if not status["complete"]:
            await asyncio.sleep(POLL_INTERVAL)
            continue
        score = (status.get("result") or {}).get("judgeResult", {}).get("score", {}).get("score")
        if not isinstance(score, int | float) or isinstance(score, bool):
            return Measurement("Error", None, execution_id, status, "Missing Score")
        value = int(score)
        return Measurement(_evaluate(value, metric), str(value), execution_id, status)
    return Measurement("Error", None, execution_id, None, "never complete")
