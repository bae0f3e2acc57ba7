"""The virtual clock: time jumps only when every task waits, threads counted on request."""

from __future__ import annotations

import asyncio
import time

from auspice.clock import VirtualClock


async def test_sleepers_wake_in_deadline_order_and_see_their_own_deadline() -> None:
    clock = VirtualClock(start=100.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    await asyncio.gather(sleeper("late", 30), sleeper("early", 10), sleeper("middle", 20))
    assert woke == [("early", 110.0), ("middle", 120.0), ("late", 130.0)]


async def race(clock: VirtualClock) -> float:
    """A task that waits on a thread races one that sleeps a virtual minute; returns the
    virtual time the thread's task saw when its (real) work was done."""
    seen: list[float] = []

    async def thread_work() -> None:
        await asyncio.to_thread(time.sleep, 0.05)  # blocked, but not sleeping on the clock
        seen.append(clock.now())

    await asyncio.gather(thread_work(), clock.sleep(60))
    return seen[0]


async def test_without_counting_threads_time_overtakes_work_in_a_thread() -> None:
    """Why ``count_threads`` exists: the loop looks idle while the thread runs."""
    assert await race(VirtualClock(start=0.0)) == 60.0


async def test_counted_threads_hold_time_until_they_are_done() -> None:
    clock = VirtualClock(start=0.0)
    clock.count_threads()
    assert await race(clock) == 0.0
    assert clock.now() == 60.0  # and the sleeper still got its minute
