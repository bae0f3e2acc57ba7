"""Wrappers around the metrics source: counting (for ``/metrics``) and a short-lived cache.

Looks are recomputed from the start on the look grid, so two calls in the same interval
for one judgement (Argo retrying, Flagger's rollout hook and its promotion gate, a
Kayenta client polling) send exactly the same range queries. :class:`CachingSource`
answers those from memory for ``ttl`` seconds. It caches answers and "no data", never
failures: a failed query is asked again next time. Concurrent identical queries share
one request (single flight), so a burst of callers does not multiply the load on
Prometheus.

:class:`CountingSource` counts real queries and failures per server for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from auspice.errors import SourceError
from auspice.metrics.source import MetricsSource, NoDataError, Series
from auspice.webhooks.telemetry import ServiceMetrics

__all__ = ["CachingSource", "CountingSource"]

Key = tuple[str, float, float, float]


class CountingSource:
    """Counts queries and their failures, labelled by the wrapped source's server."""

    def __init__(self, source: MetricsSource, metrics: ServiceMetrics) -> None:
        self.inner = source
        self.metrics = metrics
        self.server = source.server

    async def query_range(self, promql: str, start: float, end: float,
                          step: float) -> list[Series]:
        self.metrics.queries.labels(server=self.server).inc()
        try:
            return await self.inner.query_range(promql, start, end, step)
        except SourceError:
            self.metrics.query_errors.labels(server=self.server).inc()
            raise

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class _Entry:
    expires: float
    series: list[Series] | None
    no_data: NoDataError | None


class CachingSource:
    """Answers identical range queries from memory for ``ttl`` seconds (monotonic time)."""

    def __init__(self, source: MetricsSource, *, ttl: float, max_entries: int = 4096,
                 metrics: ServiceMetrics | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.inner = source
        self.ttl = float(ttl)
        self.max_entries = int(max_entries)
        self.metrics = metrics
        self._monotonic = monotonic
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._flights: dict[Key, asyncio.Future[_Entry]] = {}

    @property
    def server(self) -> str:
        return self.inner.server

    async def close(self) -> None:
        await self.inner.close()

    async def query_range(self, promql: str, start: float, end: float,
                          step: float) -> list[Series]:
        key = (promql, float(start), float(end), float(step))
        entry = self._fresh(key)
        if entry is not None:
            if self.metrics is not None:
                self.metrics.cache_hits.inc()
        else:
            entry = await self._fetch(key)
        if entry.no_data is not None:
            raise entry.no_data
        assert entry.series is not None
        return entry.series

    def _fresh(self, key: Key) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= self._monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    async def _fetch(self, key: Key) -> _Entry:
        flight = self._flights.get(key)
        if flight is not None:
            return await asyncio.shield(flight)
        future: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        try:
            entry = await self._ask(key)
        except asyncio.CancelledError:
            # The caller that started the query gave up (its deadline); the others
            # waiting on it get a failed query rather than a cancellation of their own.
            _fail(future, SourceError(f"query {key[0]!r} was abandoned before it finished"))
            raise
        except Exception as error:
            _fail(future, error)
            raise
        else:
            future.set_result(entry)
            self._store(key, entry)
            return entry
        finally:
            self._flights.pop(key, None)

    async def _ask(self, key: Key) -> _Entry:
        expires = self._monotonic() + self.ttl
        try:
            series = await self.inner.query_range(*key)
        except NoDataError as no_data:
            return _Entry(expires, None, no_data)
        return _Entry(expires, series, None)

    def _store(self, key: Key, entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def _fail(future: asyncio.Future[_Entry], error: BaseException) -> None:
    future.set_exception(error)
    future.exception()  # mark it retrieved: a flight nobody else awaited must not warn
