"""Harness of the webhook tests: the real app around a context with a chosen source.

:func:`make_service` builds the real application (:func:`auspice.webhooks.app.create_app`)
around a :class:`~auspice.webhooks.context.ServiceContext` whose clock is a
:class:`~auspice.clock.VirtualClock` (the backfilled data lies in 2026-01-01, so tests
place "now" where the scenario needs it) and whose source is either the shared
backfilled Prometheus or a fake, both wrapped in :class:`CountingFake` so a test can
assert how many queries reached the source.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from auspice.analysis.templates import TemplateResolver
from auspice.clock import VirtualClock
from auspice.metrics.source import MetricsSource, NoDataError, Series
from auspice.specs.serve import ServeConfig
from auspice.specs.tokens import TokenEntry
from auspice.storage import Storage
from auspice.webhooks.app import create_app
from auspice.webhooks.auth import Role, TokenAuth
from auspice.webhooks.context import ServiceContext

__all__ = ["TOKENS", "CountingFake", "Service", "config_data", "constant", "make_service"]

TOKENS = {
    "viewer": "viewer-token-0123456789abcdef",
    "judge": "judge-token-0123456789abcdef",
    "operator": "operator-token-0123456789abcdef",
}

Answer = Callable[[str, float, float, float], Awaitable[list[Series]]]


@dataclass
class CountingFake:
    """Counts the queries that reach it; answers from ``inner``, ``answer`` or "no data"."""

    inner: MetricsSource | None = None
    answer: Answer | None = None
    calls: list[tuple[str, float, float, float]] = field(default_factory=list)
    server: str = "fake"

    async def query_range(self, promql: str, start: float, end: float,
                          step: float) -> list[Series]:
        self.calls.append((promql, float(start), float(end), float(step)))
        if self.inner is not None:
            return await self.inner.query_range(promql, start, end, step)
        if self.answer is not None:
            return await self.answer(promql, start, end, step)
        raise NoDataError(query=promql, server=self.server)

    async def close(self) -> None:
        if self.inner is not None:
            await self.inner.close()


def constant(value: float, start: float, end: float, step: float,
             labels: dict[str, str] | None = None) -> Series:
    times = np.arange(start, end + step / 2, step, dtype=np.float64)
    return Series(labels or {}, times, np.full(times.shape, float(value)))


@dataclass
class Service:
    client: TestClient
    app: web.Application
    context: ServiceContext
    source: CountingFake
    clock: VirtualClock

    def headers(self, role: str = "judge") -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKENS[role]}", "Content-Type": "application/json"}

    async def post(self, path: str, body: Any, *, role: str | None = "judge",
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """POST ``body`` (JSON-encoded unless bytes/str) the way Argo and Flagger do."""
        import json

        data = body if isinstance(body, bytes | str) else json.dumps(body)
        sent = dict(headers if headers is not None else
                    (self.headers(role) if role else {"Content-Type": "application/json"}))
        response = await self.client.post(path, data=data, headers=sent)
        return response.status, await _json_or_text(response)

    async def get(self, path: str, *, role: str | None = "viewer") -> tuple[int, Any]:
        headers = self.headers(role) if role else {}
        response = await self.client.get(path, headers=headers)
        return response.status, await _json_or_text(response)


async def _json_or_text(response: Any) -> Any:
    text = await response.text()
    try:
        import json

        return json.loads(text)
    except ValueError:
        return text


def config_data(prometheus_url: str = "http://127.0.0.1:9", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"prometheus": {"url": prometheus_url},
                            "auth": {"tokensFile": "/nonexistent"}}
    data.update(overrides)
    return data


def tokens() -> TokenAuth:
    return TokenAuth([TokenEntry.model_validate({"name": f"{role}-caller", "role": role,
                                                 "token": token})
                      for role, token in TOKENS.items()])


@pytest.fixture
async def make_service(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Service]]]:
    """``await make_service(source=..., now=..., config=..., templates_dir=...)``."""
    made: list[Service] = []

    async def make(*, source: MetricsSource | None = None, now: float = 1_767_227_400.0,
                   config: dict[str, Any] | None = None, templates_dir: Path | None = None,
                   anonymous: Role | None = None) -> Service:
        fake = source if isinstance(source, CountingFake) else CountingFake(inner=source)
        serve_config = ServeConfig.model_validate(config or config_data())
        store = await Storage.open(tmp_path / f"state-{len(made)}.db")
        auth = tokens()
        auth.anonymous = anonymous
        clock = VirtualClock(now)
        context = ServiceContext(config=serve_config, source=fake, store=store,
                                 templates=TemplateResolver(templates_dir), tokens=auth,
                                 clock=clock)
        app = create_app(context)
        client = TestClient(TestServer(app))
        await client.start_server()
        service = Service(client, app, context, fake, clock)
        made.append(service)
        return service

    yield make
    for service in made:
        await service.client.close()
        await service.context.store.close()


#: A judgement body every test of a refusal varies one thing of.
GOOD: dict[str, Any] = {
    "template": "istio",
    "rollout": "shop/reviews",
    "canary": {"version": "v2", "workload": "reviews", "namespace": "shop", "cluster": "east"},
    "baseline": {"version": "v1", "workload": "reviews", "namespace": "shop",
                 "cluster": "east"},
}
