"""Fixtures of the Kayenta-API tests: an Auspice app around a recording metrics source.

The app is the real one (:func:`auspice.webhooks.app.create_app` around a
:class:`~auspice.webhooks.context.ServiceContext` with a SQLite store in a temp dir);
only the metrics source is chosen per test: the shared backfilled Prometheus (wrapped so
the exact queries can be asserted) or canned series.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from support.kayenta import RecordingSource

from auspice.analysis.templates import TemplateResolver
from auspice.clock import RealClock
from auspice.specs.serve import ServeConfig
from auspice.specs.tokens import TokenEntry
from auspice.storage import Storage
from auspice.webhooks.app import create_app
from auspice.webhooks.auth import TokenAuth
from auspice.webhooks.context import ServiceContext

__all__ = ["Harness"]

TOKENS = {
    "viewer-token-0123456789": "viewer",
    "judge-token-0123456789ab": "judge",
    "operator-token-0123456789": "operator",
}


@dataclass
class Harness:
    client: TestClient
    app: web.Application
    context: ServiceContext
    source: RecordingSource

    async def json(self, method: str, path: str, *, status: int = 200, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, **kwargs)
        text = await response.text()
        assert response.status == status, f"{method} {path}: {response.status} {text}"
        return json.loads(text)


StartApp = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_app(tmp_path: Path) -> AsyncIterator[StartApp]:
    """``await start_app(source=..., kayenta={...})``: a running app and a client."""
    running: list[tuple[TestClient, Storage]] = []

    async def start(
        *,
        source: RecordingSource | None = None,
        kayenta: dict[str, Any] | None = None,
        anonymous: str | None = None,
        state: Path | None = None,
        shutdown_timeout: str = "5s",
    ) -> Harness:
        source = source or RecordingSource()
        config = ServeConfig.model_validate_json(
            json.dumps(
                {
                    "prometheus": {"url": "http://127.0.0.1:9"},
                    "limits": {"shutdownTimeout": shutdown_timeout},
                    "kayenta": kayenta or {},
                }
            )
        )
        store = await Storage.open(state or tmp_path / "state.db")
        tokens = TokenAuth(
            [
                TokenEntry.model_validate({"name": role, "role": role, "token": token})
                for token, role in TOKENS.items()
            ]
        )
        context = ServiceContext(
            config=config,
            source=source,
            store=store,
            templates=TemplateResolver(),
            tokens=tokens,
            clock=RealClock(),
        )
        if anonymous is not None:
            from auspice.webhooks.auth import Role

            tokens.anonymous = Role.named(anonymous)
        app = create_app(context)
        client = TestClient(TestServer(app))
        await client.start_server()
        running.append((client, store))
        return Harness(client, app, context, source)

    yield start
    for client, store in reversed(running):
        await client.close()
        await store.close()
