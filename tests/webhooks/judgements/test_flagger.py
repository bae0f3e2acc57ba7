"""Flagger's webhooks against Auspice and real Prometheus data.

Payloads are built the way Flagger's controller builds them (name, namespace, phase,
checksum, the webhook's metadata; POST with Content-Type: application/json and no other
header), from the webhooks of the shipped example Canary; Flagger counts any status
above 202 as a failed check.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from support.argo_web import EXAMPLES
from support.prometheus import IstioPrometheus
from support.service import TOKENS

from auspice.metrics.prometheus import PrometheusSource


def hooks() -> dict[str, dict[str, Any]]:
    canary = yaml.safe_load((EXAMPLES / "flagger" / "canary.yaml").read_text())
    return {hook["type"]: hook for hook in canary["spec"]["analysis"]["webhooks"]}


def payload(prom: IstioPrometheus, scenario: str, hook_type: str, *,
            checksum: str = "5d8f7c9b6", phase: str = "Progressing") -> tuple[str, bytes]:
    """(path, body) of the call Flagger makes for webhook ``hook_type``."""
    hook = hooks()[hook_type]
    release = prom.scenarios[scenario]
    metadata = dict(hook["metadata"])
    metadata.update({"token": TOKENS["judge"],
                     "canary.workload": f"{release.workload}-{release.canary_version}",
                     "baseline.workload": f"{release.workload}-{release.baseline_version}"})
    body = {"name": "reviews", "namespace": release.namespace, "phase": phase,
            "checksum": checksum, "metadata": metadata}
    path = hook["url"].split("svc:8080", 1)[1]
    return path, json.dumps(body).encode()


async def call(service, path: str, body: bytes) -> tuple[int, Any]:
    response = await service.client.post(path, data=body,
                                         headers={"Content-Type": "application/json"})
    return response.status, await response.json()


@pytest.fixture
async def prometheus(istio_prometheus: IstioPrometheus) -> AsyncIterator[PrometheusSource]:
    async with PrometheusSource(istio_prometheus.url, timeout=10) as source:
        yield source


async def test_error_regression_fails_the_rollout_hook_and_never_opens_the_gate(
        make_service, prometheus, istio_prometheus: IstioPrometheus) -> None:
    scenario = "error-regression"
    start = istio_prometheus.scenarios[scenario].canary_start
    service = await make_service(source=prometheus, now=start)

    status, body = await call(service, *payload(istio_prometheus, scenario, "pre-rollout"))
    assert status == 200 and body["created"] is True, body
    status, body = await call(service, *payload(istio_prometheus, scenario, "rollout"))
    assert status == 200 and body["verdict"] == "continue"
    service.clock.advance(60)
    status, body = await call(service, *payload(istio_prometheus, scenario, "rollout"))
    assert status == 409 and body["verdict"] == "fail", body
    assert "error-rate" in body["message"]
    status, body = await call(service, *payload(istio_prometheus, scenario,
                                                "confirm-promotion"))
    assert status == 409
    # Flagger retrying the same revision: pre-rollout refuses it at once.
    status, body = await call(service, *payload(istio_prometheus, scenario, "pre-rollout"))
    assert status == 409 and "already judged FAIL" in body["message"]


async def test_healthy_canary_holds_the_gate_until_pass(
        make_service, prometheus, istio_prometheus: IstioPrometheus) -> None:
    scenario = "healthy"
    start = istio_prometheus.scenarios[scenario].canary_start
    service = await make_service(source=prometheus, now=start)
    await call(service, *payload(istio_prometheus, scenario, "pre-rollout"))
    for offset in (60, 600, 1800):
        service.clock.advance(offset - (service.clock.now() - start))
        status, body = await call(service, *payload(istio_prometheus, scenario, "rollout"))
        assert status == 200 and body["verdict"] == "continue", body
        status, body = await call(service, *payload(istio_prometheus, scenario,
                                                    "confirm-promotion"))
        assert status == 423 and "gate closed" in body["message"], body
    service.clock.advance(3600 - (service.clock.now() - start))
    status, body = await call(service, *payload(istio_prometheus, scenario,
                                                "confirm-promotion"))
    assert status == 200 and body["verdict"] == "pass", body
    assert body["start"] == "2026-01-01T00:30:00Z"


async def test_a_new_checksum_is_a_new_judgement(
        make_service, prometheus, istio_prometheus: IstioPrometheus) -> None:
    scenario = "latency-regression"
    start = istio_prometheus.scenarios[scenario].canary_start
    service = await make_service(source=prometheus, now=start)
    await call(service, *payload(istio_prometheus, scenario, "pre-rollout"))
    service.clock.advance(60)
    status, failed = await call(service, *payload(istio_prometheus, scenario, "rollout"))
    assert status == 409
    status, fresh = await call(service, *payload(istio_prometheus, scenario, "rollout",
                                                 checksum="77aa88bb"))
    assert status == 200 and fresh["judgement"] != failed["judgement"]
    assert fresh["verdict"] == "continue"  # opened now: no complete look yet


async def test_flagger_payload_problems_are_named(make_service) -> None:
    service = await make_service()
    base = {"name": "reviews", "namespace": "shop", "phase": "Progressing",
            "checksum": "1", "metadata": {"template": "istio", "token": TOKENS["judge"]}}
    cases = [
        ({**base, "metadata": {"token": TOKENS["judge"]}}, 400, "metadata.template"),
        ({**base, "metadata": {**base["metadata"], "canary.verison": "v2"}}, 400,
         "metadata.canary.verison"),
        ({**base, "metadata": {**base["metadata"], "template": "nope"}}, 404, "nope"),
        ({**base, "metadata": {"template": "istio"}}, 401, "bearer token"),
        ({**base, "metadata": {"template": "istio", "token": TOKENS["viewer"]}}, 403,
         "needs judge"),
        ({k: v for k, v in base.items() if k != "name"}, 400, "name"),
    ]
    for body, status, words in cases:
        got, answer = await call(service, "/api/v1/flagger/rollout", json.dumps(body).encode())
        assert got == status, (body, answer)
        assert words in answer["message"], answer
    assert service.source.calls == []
