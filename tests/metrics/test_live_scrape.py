"""Live data: Prometheus scrapes a tiny aiohttp exporter every second.

Backfilled blocks prove the query path; this proves the whole chain with samples that
Prometheus itself collected (head block, staleness, ``up``), read back by the client.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web
from support.integration import require_binary
from support.prometheus import PrometheusServer, start_prometheus

from auspice.metrics.prometheus import PrometheusSource
from auspice.metrics.source import NoDataError

WAIT_FOR_SCRAPES = 60.0  # generous: two CPUs shared with other test runs


class Exporter:
    """Serves a counter that grows by 5 per scrape, and remembers what it served."""

    def __init__(self) -> None:
        self.served: list[float] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def metrics(self, request: web.Request) -> web.Response:
        value = 5.0 * (len(self.served) + 1)
        self.served.append(value)
        text = (
            "# TYPE demo_requests_total counter\n"
            f'demo_requests_total{{version="v2",path="/a b\\"c"}} {value}\n'
            "# TYPE demo_temperature gauge\n"
            "demo_temperature NaN\n"
        )
        return web.Response(text=text, content_type="text/plain")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def scraped() -> AsyncIterator[tuple[Exporter, PrometheusServer]]:
    binary = require_binary("prometheus")
    exporter = Exporter()
    await exporter.start()
    root = Path(tempfile.mkdtemp(prefix="auspice-live-"))
    scrape = {"job_name": "demo", "scrape_interval": "1s", "scrape_timeout": "1s",
              "static_configs": [{"targets": [exporter.url]}]}  # fmt: skip
    try:
        server = await asyncio.to_thread(
            start_prometheus, root / "data", scrape_configs=[scrape], binary=binary,
            owned_dirs=[root],
        )  # fmt: skip
    except BaseException:
        await exporter.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    try:
        yield exporter, server
    finally:
        await asyncio.to_thread(server.stop)
        await exporter.stop()


async def wait_for_samples(source: PrometheusSource, query: str, count: int) -> float:
    """Poll until ``query`` counts ``count`` samples; return the server time then."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_FOR_SCRAPES
    while loop.time() < deadline:
        try:
            [series] = await source.query(query, time.time())
            if series.values[0] >= count:
                return float(series.timestamps[0])
        except NoDataError:
            pass
        await asyncio.sleep(0.25)
    raise AssertionError(f"Prometheus did not scrape {count} samples in {WAIT_FOR_SCRAPES}s")


async def test_live_scraped_counter_reads_back_exactly(
    scraped: tuple[Exporter, PrometheusServer],
) -> None:
    exporter, server = scraped
    async with PrometheusSource(server.url, timeout=10) as source:
        now = await wait_for_samples(source, "count_over_time(demo_requests_total[5m])", 4)
        [series] = await source.query_range("demo_requests_total", now - 120, now, 1.0)
        [up] = await source.query('up{job="demo"}', now)
        [gauge] = await source.query("demo_temperature", now)
    assert series.labels == {
        "__name__": "demo_requests_total", "version": "v2", "path": '/a b"c',
        "instance": exporter.url, "job": "demo",
    }  # fmt: skip
    distinct = np.unique(series.values)
    assert len(distinct) >= 4
    assert set(distinct.tolist()) <= set(exporter.served)  # every value was served
    assert np.all(np.diff(series.values) >= 0)  # a counter never goes down
    assert up.values.tolist() == [1.0]
    assert np.isnan(gauge.values[0])
