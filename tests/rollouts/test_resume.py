"""A restart in the middle of a rollout resumes it where the store says it was."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.worlds import FAST, Driver, events, orchestrator, plan, sim_world

from auspice.rollouts.orchestrator import Orchestrator
from auspice.rollouts.states import State
from auspice.rollouts.store import RolloutStore


async def restart(orch: Orchestrator, sim, path: Path) -> Orchestrator:  # type: ignore[no-untyped-def]
    """Stop every driver as a crash would (no rollback), then a new service on the file."""
    await orch.close()
    store = await RolloutStore.open(path)
    again = Orchestrator(store=store, world=sim.world, settings=FAST)
    Driver(again)
    return again


async def test_restart_mid_hold_resumes_the_same_step_with_the_remaining_hold(
        tmp_path: Path) -> None:
    sim = sim_world()
    path = tmp_path / "s.db"
    orch = await orchestrator(sim, path)
    driver = Driver(orch)
    mid = driver.when(lambda what, d: what == "look" and d["cluster"] == "prod-eu"
                      and d["step"] == 1)
    rollout = await orch.start(plan(), who="alice")
    await asyncio.wait_for(mid.wait(), 30)
    orch = await restart(orch, sim, path)
    await sim.clock.sleep(30)  # the service was down for 30 s
    assert await orch.resume_all() == [rollout]
    record = await orch.wait(rollout)
    assert record.state is State.SUCCEEDED
    log = await events(orch, rollout)
    assert [e.n for e in log] == list(range(1, len(log) + 1))
    sets = [e for e in log if e.what == "weights.set" and e.details["cluster"] == "prod-eu"]
    assert [e.details["step"] for e in sets] == [0, 1, 2]  # step 1 was not set again
    resumed = next(e for e in log if e.what == "step.resumed")
    assert (resumed.details["cluster"], resumed.details["step"]) == ("prod-eu", 1)
    held = resumed.details["held_seconds"]
    assert 60 <= held <= 120
    assert abs(resumed.details["remaining_seconds"] - (300 - held)) < 1e-6
    step1_set = sets[1].at
    step2_intent = next(e.at for e in log if e.what == "step.intent"
                        and e.details["cluster"] == "prod-eu" and e.details["step"] == 2)
    assert 300 <= step2_intent - step1_set <= 310  # neither from zero nor early
    assert [e.what for e in log].count("rollout.resumed") == 1


async def test_restart_during_bake_keeps_the_bake_deadline(tmp_path: Path) -> None:
    sim = sim_world()
    path = tmp_path / "s.db"
    orch = await orchestrator(sim, path)
    driver = Driver(orch)
    baking = driver.when(lambda what, d: what == "bake")
    rollout = await orch.start(plan(), who="alice")
    await asyncio.wait_for(baking.wait(), 30)
    bake_until = (await orch.status(rollout)).bake_until
    orch = await restart(orch, sim, path)
    await orch.resume_all()
    record = await orch.wait(rollout)
    assert record.state is State.SUCCEEDED
    log = await events(orch, rollout)
    wave2 = next(e for e in log if e.what == "wave.started" and e.details["wave"] == 1)
    assert bake_until is not None and bake_until <= wave2.at <= bake_until + 5


async def test_restart_after_the_revert_never_pushes_a_second_one(tmp_path: Path) -> None:
    sim = sim_world(regressed_in={"prod-eu"})
    path = tmp_path / "s.db"
    orch = await orchestrator(sim, path)
    Driver(orch)
    rollout = await orch.start(plan(), who="alice")
    await orch.wait(rollout)
    assert sim.reverter.pushes == 1
    # a crash right after the push was recorded, before the final state was
    await orch.store.record(rollout, at=sim.clock.now(), who="test", what="test.crash",
                            fields={"state": State.REVERTING})
    orch = await restart(orch, sim, path)
    assert await orch.resume_all() == [rollout]
    record = await orch.wait(rollout)
    assert record.state is State.FAILED
    assert sim.reverter.calls == 1 and sim.reverter.pushes == 1


async def test_restart_while_rolling_back_finishes_the_rollback(tmp_path: Path) -> None:
    sim = sim_world()
    path = tmp_path / "s.db"
    orch = await orchestrator(sim, path)
    driver = Driver(orch)
    mid = driver.when(lambda what, d: what == "look" and d["cluster"] == "prod-eu")
    rollout = await orch.start(plan(), who="alice")
    await asyncio.wait_for(mid.wait(), 30)
    await orch.close()
    await orch.store.record(rollout, at=sim.clock.now(), who="oncall", what="test.abort",
                            fields={"state": State.ROLLING_BACK, "aborted": True})
    orch = await restart(orch, sim, path)
    await orch.resume_all()
    record = await orch.wait(rollout)
    assert record.state is State.ABORTED
    assert sim.router.weights["prod-eu"].canary == 0
    assert sim.router.weights["staging-eu"].canary == 0


async def test_a_cluster_that_failed_alone_is_not_retried_after_a_restart(
        tmp_path: Path) -> None:
    sim = sim_world(regressed_in={"prod-us-east"})
    sim.source.versions.regressed_error_rate = 0.2
    path = tmp_path / "s.db"
    orch = await orchestrator(sim, path)
    driver = Driver(orch)
    failed = driver.when(lambda what, d: what == "cluster.rollback")
    rollout = await orch.start(plan(failWholeRollout=False), who="alice")
    await asyncio.wait_for(failed.wait(), 30)
    orch = await restart(orch, sim, path)
    await orch.resume_all()
    record = await orch.wait(rollout)
    assert record.state is State.PARTIALLY_SUCCEEDED
    assert sim.router.weights["prod-us-east"].canary == 0
    log = await events(orch, rollout)
    resumed_at = next(e.n for e in log if e.what == "rollout.resumed")
    assert not [e for e in log if e.n > resumed_at and e.details.get("cluster") == "prod-us-east"
                and e.what in ("weights.set", "weights.reapplied", "step.resumed", "look")]
