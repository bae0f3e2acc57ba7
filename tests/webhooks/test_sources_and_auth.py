"""The Prometheus-answer cache, the query counter, and bearer-token authentication."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.service import CountingFake, constant

from auspice.errors import ConfigError
from auspice.metrics.promapi import ServerUnavailableError
from auspice.metrics.source import NoDataError, Series
from auspice.specs import SpecError
from auspice.specs.tokens import TokenEntry
from auspice.webhooks.auth import Role, TokenAuth
from auspice.webhooks.sources import CachingSource, CountingSource
from auspice.webhooks.telemetry import ServiceMetrics


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def ok(promql: str, start: float, end: float, step: float) -> list[Series]:
    if promql == "empty":
        raise NoDataError(query=promql, server="fake")
    return [constant(1.0, start, end, step)]


async def test_cache_answers_repeats_until_the_ttl() -> None:
    fake, ticks, metrics = CountingFake(answer=ok), Ticks(), ServiceMetrics()
    cache = CachingSource(fake, ttl=10, monotonic=ticks, metrics=metrics)
    first = await cache.query_range("up", 0, 60, 60)
    assert await cache.query_range("up", 0, 60, 60) is first
    await cache.query_range("up", 0, 120, 60)  # another range: another query
    assert len(fake.calls) == 2
    for _ in range(2):
        with pytest.raises(NoDataError):
            await cache.query_range("empty", 0, 60, 60)
    assert len(fake.calls) == 3  # "no data" is an answer, cached too
    ticks.now = 10.0
    await cache.query_range("up", 0, 60, 60)
    assert len(fake.calls) == 4
    assert metrics.cache_hits._value.get() == 2


async def test_cache_never_keeps_failures_and_shares_one_flight() -> None:
    state = {"fail": True, "gate": asyncio.Event()}

    async def answer(promql: str, start: float, end: float, step: float) -> list[Series]:
        await state["gate"].wait()
        if state["fail"]:
            raise ServerUnavailableError("down", query=promql, server="fake")
        return [constant(2.0, start, end, step)]

    fake = CountingFake(answer=answer)
    cache = CachingSource(fake, ttl=60, monotonic=Ticks())
    waiting = [asyncio.create_task(cache.query_range("q", 0, 60, 60)) for _ in range(5)]
    await asyncio.sleep(0)
    state["gate"].set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, ServerUnavailableError) for r in results)
    assert len(fake.calls) == 1  # one request for five callers
    state["fail"] = False
    assert (await cache.query_range("q", 0, 60, 60))[0].values[0] == 2.0
    assert len(fake.calls) == 2


async def test_cache_evicts_the_least_recently_used() -> None:
    fake = CountingFake(answer=ok)
    cache = CachingSource(fake, ttl=60, max_entries=2, monotonic=Ticks())
    for query in ("a", "b", "a", "c", "a", "b"):
        await cache.query_range(query, 0, 60, 60)
    assert [call[0] for call in fake.calls] == ["a", "b", "c", "b"]


async def test_counting_source_counts_failures_by_server() -> None:
    async def down(promql: str, start: float, end: float, step: float) -> list[Series]:
        raise ServerUnavailableError("down", query=promql, server="http://t:9090")

    metrics = ServiceMetrics()
    counting = CountingSource(CountingFake(answer=down, server="http://t:9090"), metrics)
    with pytest.raises(ServerUnavailableError):
        await counting.query_range("q", 0, 1, 1)
    assert metrics.query_errors.labels(server="http://t:9090")._value.get() == 1
    assert metrics.queries.labels(server="http://t:9090")._value.get() == 1


def entry(name: str, role: str, token: str) -> TokenEntry:
    return TokenEntry.model_validate({"name": name, "role": role, "token": token})


def test_tokens_map_to_principals_with_ordered_roles() -> None:
    auth = TokenAuth([entry("argo", "judge", "a" * 32), entry("sre", "operator", "b" * 32)])
    argo = auth.authenticate("a" * 32)
    assert argo is not None and argo.name == "argo" and argo.role is Role.JUDGE
    assert argo.may(Role.VIEWER) and argo.may(Role.JUDGE) and not argo.may(Role.OPERATOR)
    assert auth.authenticate("a" * 31) is None
    assert auth.authenticate("a" * 32 + "x") is None
    assert auth.authenticate("") is None
    assert "a" * 32 not in repr(auth) and "a" * 32 not in repr(auth._known)


def test_tokens_file_is_strict(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens:\n  - name: argo\n    role: judge\n    token: shortsecret\n")
    with pytest.raises(ConfigError) as error:
        TokenAuth.from_file(path)
    assert "'argo' is shorter than 16" in str(error.value)
    assert "shortsecret" not in str(error.value)  # never echo a token
    path.write_text("tokens:\n  - name: argo\n    role: judge\n    tokn: " + "x" * 20 + "\n")
    with pytest.raises(SpecError, match=r"tokens\.yaml:4"):
        TokenAuth.from_file(path)
    path.write_text("tokens:\n  - name: argo\n    role: admin\n    token: " + "x" * 20 + "\n")
    with pytest.raises(SpecError, match="role"):
        TokenAuth.from_file(path)
    with pytest.raises(ConfigError, match="same token value"):
        TokenAuth([entry("a", "judge", "c" * 20), entry("b", "viewer", "c" * 20)])
    with pytest.raises(ConfigError, match="unique"):
        TokenAuth([entry("a", "judge", "c" * 20), entry("a", "viewer", "d" * 20)])
