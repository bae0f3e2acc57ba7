"""Operations: probes, /metrics, the OpenAPI document, the look deadline."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families
from support.service import GOOD, CountingFake, config_data, constant

from auspice.metrics.promapi import ServerUnavailableError
from auspice.metrics.source import Series


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


async def answer_counts(promql: str, start: float, end: float, step: float) -> list[Series]:
    return [constant(1.0 if "5.." in promql else 100.0, start, end, step)]


async def test_healthz_and_readyz(make_service) -> None:
    service = await make_service(source=CountingFake(answer=answer_counts))
    assert (await service.get("/healthz", role=None))[0] == 200
    status, ready = await service.get("/readyz", role=None)
    assert status == 200 and ready["checks"]["store"]["ok"], ready


async def test_readyz_fails_when_the_source_is_down(make_service) -> None:
    async def down(promql: str, start: float, end: float, step: float) -> list[Series]:
        raise ServerUnavailableError("connection refused", query=promql,
                                     server="http://thanos:9090")

    service = await make_service(source=CountingFake(answer=down))
    status, ready = await service.get("/readyz", role=None)
    assert status == 503
    assert not ready["checks"]["metrics_source"]["ok"]
    assert "thanos:9090" in ready["checks"]["metrics_source"]["detail"]
    assert ready["checks"]["store"]["ok"]


async def test_readyz_fails_when_the_store_is_not_writable(make_service) -> None:
    service = await make_service(source=CountingFake(answer=answer_counts))
    await service.context.store.database.run(lambda db: db.execute("PRAGMA query_only = ON"))
    status, ready = await service.get("/readyz", role=None)
    assert status == 503 and not ready["checks"]["store"]["ok"], ready


async def test_metrics_count_verdicts_errors_and_open_judgements(make_service) -> None:
    calls = {"n": 0}

    async def flaky(promql: str, start: float, end: float, step: float) -> list[Series]:
        calls["n"] += 1
        if calls["n"] > 3:
            raise ServerUnavailableError("refused", query=promql, server="http://thanos:9090")
        return await answer_counts(promql, start, end, step)

    from auspice.webhooks.sources import CountingSource

    service = await make_service(source=CountingFake(answer=flaky))
    service.context.source = CountingSource(service.context.source, service.context.metrics)
    body = {**GOOD, "template": "flagger"}
    await service.post("/api/v1/judgements", body)
    service.clock.advance(120)
    _, first = await service.post("/api/v1/judgements", body)
    assert first["verdict"] == "continue"  # thresholds met, not yet min duration
    service.clock.advance(60)
    _, second = await service.post("/api/v1/judgements", body)
    assert second["verdict"] == "error"
    status_text = await (await service.client.get("/metrics")).text()
    values = samples(status_text)
    assert values[("auspice_judgements_total", (("api", "web"), ("verdict", "continue")))] == 2
    assert values[("auspice_judgements_total", (("api", "web"), ("verdict", "error")))] == 1
    assert values[("auspice_query_errors_total", (("server", "fake"),))] >= 1
    assert values[("auspice_open_judgements", ())] == 1
    assert values[("auspice_look_duration_seconds_count", (("api", "web"),))] == 3


async def test_a_slow_source_gets_an_error_verdict_within_the_deadline(make_service) -> None:
    async def slow(promql: str, start: float, end: float, step: float) -> list[Series]:
        await asyncio.sleep(30)
        raise AssertionError("never reached")

    service = await make_service(source=CountingFake(answer=slow),
                                 config={**config_data(), "limits": {"lookDeadline": "200ms"}})
    await service.post("/api/v1/judgements", GOOD)
    service.clock.advance(120)
    status, answer = await service.post("/api/v1/judgements", GOOD)
    assert status == 200 and answer["verdict"] == "error"
    assert "did not finish within 0.2 s" in answer["reason"]
    assert len(service.context.inflight) == 0  # the abandoned look was cancelled


async def test_openapi_describes_every_route(make_service) -> None:
    service = await make_service()
    status, doc = await service.get("/api/v1/openapi.json", role=None)
    assert status == 200 and doc["openapi"].startswith("3.")
    routes = {(r.method.lower(), r.resource.canonical) for r in service.app.router.routes()
              if r.resource is not None and r.method != "HEAD"
              and not r.resource.canonical.startswith("/canary")}  # Kayenta API: its own tests
    described = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert routes <= described, routes - described
    body = doc["components"]["schemas"]["JudgementBody"]
    assert set(body["required"]) == {"template", "rollout", "canary", "baseline"}
