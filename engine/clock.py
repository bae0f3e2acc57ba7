"""Real and virtual time.

Everything in Auspice that waits (holds between looks, bake times, retry backoff) asks
a :class:`Clock`, never ``asyncio.sleep`` or ``time.time`` directly. Production uses
:class:`RealClock`; tests, backtests and the demo use :class:`VirtualClock`, whose
``sleep`` returns as soon as every other task is also waiting, so a 24-hour canary
can be replayed in a second with the same code path.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""


class RealClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Simulated time that jumps to the next wake-up once every sleeper is waiting.

    Sleepers are woken in deadline order (ties in the order they slept). Between two
    jumps the clock yields to the event loop a few times so tasks that are runnable
    (not sleeping on this clock) get to run first; time only advances when nothing
    else is ready. ``advance`` moves time by hand, for tests that drive it directly.
    """

    def __init__(self, start: float = 0.0, *, settle_rounds: int = 5) -> None:
        self._now = float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._settle_rounds = settle_rounds
        self._driver: asyncio.Task[None] | None = None
        self._threads_busy = 0
        self._threads_idle: asyncio.Event | None = None

    def count_threads(self) -> None:
        """Count the running loop's thread pool as "not waiting" (call it inside the loop).

        Work handed to a thread (``asyncio.to_thread``: SQLite, file I/O) leaves its
        task blocked but not sleeping, so without this the clock could jump while a
        thread is still writing, and the task would wake up later than it should, the
        more so on a loaded machine. With it, time only moves when no job is running.
        """
        loop = asyncio.get_running_loop()
        loop.set_default_executor(_CountingExecutor(self, loop))

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._order), future))
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        await future

    def advance(self, seconds: float) -> None:
        """Move time forward by hand and wake everyone whose deadline has come."""
        self._now += max(0.0, seconds)
        self._wake_due()

    async def _drive(self) -> None:
        while self._sleepers:
            await self._settle()
            self._drop_cancelled()
            if not self._sleepers:
                return
            deadline = self._sleepers[0][0]
            self._now = max(self._now, deadline)
            self._wake_due()

    async def _settle(self) -> None:
        """Let runnable tasks run, and wait for counted threads to finish, until neither."""
        while True:
            for _ in range(self._settle_rounds):
                await asyncio.sleep(0)
            if self._threads_busy == 0:
                return
            self._threads_idle = self._threads_idle or asyncio.Event()
            self._threads_idle.clear()
            await self._threads_idle.wait()

    def _thread_started(self) -> None:
        self._threads_busy += 1

    def _thread_finished(self) -> None:
        self._threads_busy -= 1
        if self._threads_busy == 0 and self._threads_idle is not None:
            self._threads_idle.set()

    def _drop_cancelled(self) -> None:
        self._sleepers = [entry for entry in self._sleepers if not entry[2].done()]
        heapq.heapify(self._sleepers)

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)


class _CountingExecutor(ThreadPoolExecutor):
    """A thread pool that tells a :class:`VirtualClock` when its jobs start and end."""

    def __init__(self, clock: VirtualClock, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(thread_name_prefix="virtual-clock")
        self._clock, self._loop = clock, loop

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self._clock._thread_started()  # run_in_executor submits from the loop's thread
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(
            lambda _: self._loop.call_soon_threadsafe(self._clock._thread_finished))
        return future
