"""Repeated calls: answered from memory while the answer holds, recomputed when it does not."""

from __future__ import annotations

from support.service import GOOD, CountingFake, config_data, constant

from auspice.metrics.source import Series

BODY = {**GOOD, "template": "flagger"}


async def healthy(promql: str, start: float, end: float, step: float) -> list[Series]:
    return [constant(99.9 if "100 *" in promql else 120.0, start, end, step)]


async def test_with_a_cache_ttl_a_repeat_within_the_look_asks_nothing(make_service) -> None:
    service = await make_service(source=CountingFake(answer=healthy),
                                 config={**config_data(), "cache": {"ttl": "30s"}})
    await service.post("/api/v1/judgements", BODY)
    service.clock.advance(180)
    _, first = await service.post("/api/v1/judgements", BODY)
    asked = len(service.source.calls)
    assert asked > 0 and first["look"] == 3
    service.clock.advance(30)  # still look 3
    _, again = await service.post("/api/v1/judgements", BODY)
    assert len(service.source.calls) == asked
    assert again["look"] == 3 and again["created"] is False
    assert again["verdict"] == first["verdict"] and again["now"] != first["now"]
    record = await service.context.store.judgements.judgement(first["judgement"])
    assert record is not None and record.looks == 2  # the opening call and look 3
    service.clock.advance(30)  # look 4: a new look is computed
    _, later = await service.post("/api/v1/judgements", BODY)
    assert later["look"] == 4 and len(service.source.calls) > asked


async def test_without_a_cache_every_call_is_a_look(make_service) -> None:
    service = await make_service(source=CountingFake(answer=healthy))
    await service.post("/api/v1/judgements", BODY)
    service.clock.advance(180)
    await service.post("/api/v1/judgements", BODY)
    asked = len(service.source.calls)
    await service.post("/api/v1/judgements", BODY)
    assert len(service.source.calls) == 2 * asked


async def test_a_deleted_judgement_starts_afresh(make_service) -> None:
    service = await make_service(source=CountingFake(answer=healthy),
                                 config={**config_data(), "cache": {"ttl": "30s"}})
    _, opened = await service.post("/api/v1/judgements", BODY)
    service.clock.advance(3600)
    _, passed = await service.post("/api/v1/judgements", BODY)
    assert passed["verdict"] == "pass" and passed["judgement"] == opened["judgement"]
    _, still = await service.post("/api/v1/judgements", BODY)
    assert still["verdict"] == "pass"  # sticky, from memory
    response = await service.client.delete(f"/api/v1/judgements/{opened['judgement']}",
                                           headers=service.headers("operator"))
    assert response.status == 200
    _, fresh = await service.post("/api/v1/judgements", BODY)
    assert fresh["created"] is True and fresh["judgement"] != opened["judgement"]
    assert fresh["verdict"] == "continue" and fresh["start_epoch"] == service.clock.now()
