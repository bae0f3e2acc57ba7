"""The orchestrator in a simulated world on a virtual clock: promote, fail, abort, faults."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.worlds import CLUSTERS, Driver, events, orchestrator, plan, sim_world

from auspice.rollouts.states import State
from auspice.traffic.router import Weights

WAVE1 = ["staging-eu"]
WAVE2 = ["prod-eu"]
WAVE3 = ["prod-asia", "prod-us-east", "prod-us-west"]


async def test_healthy_plan_promotes_through_three_waves(tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    Driver(orch)
    rollout = await orch.start(plan(), who="alice")
    record = await orch.wait(rollout)
    assert record.state is State.SUCCEEDED
    assert all(sim.router.weights[c] == Weights.canary_percent(100) for c in CLUSTERS)
    assert sim.reverter.calls == 0
    log = await events(orch, rollout)
    assert [e.n for e in log] == list(range(1, len(log) + 1))
    started = [e.details["clusters"] for e in log if e.what == "wave.started"]
    assert started == [WAVE1, WAVE2, WAVE3]
    approvals = [e for e in log if e.what == "rollout.approved"]
    assert [(a.who, a.details["wave"]) for a in approvals] == [("bob", 2)]
    looks = [e for e in log if e.what == "look"]
    assert looks and all(e.details["analyses"]["demo"]["metrics"] for e in looks)


async def test_max_parallel_bounds_the_clusters_moving_at_once(tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    Driver(orch)
    rollout = await orch.start(plan(), who="alice")
    await orch.wait(rollout)
    moving, peak = set(), 0
    for e in await events(orch, rollout):
        if e.what == "step.intent" and e.details["cluster"] in WAVE3:
            moving.add(e.details["cluster"])
            peak = max(peak, len(moving))
        if e.what == "cluster.done":
            moving.discard(e.details["cluster"])
    assert peak == 2


async def test_regression_in_wave_two_rolls_back_everywhere_and_reverts_once(
        tmp_path: Path) -> None:
    sim = sim_world(regressed_in={"prod-eu"})
    orch = await orchestrator(sim, tmp_path / "s.db")
    Driver(orch)
    rollout = await orch.start(plan(), who="alice")
    record = await orch.wait(rollout)
    assert record.state is State.FAILED
    assert record.outcome.failed_cluster == "prod-eu"
    assert record.outcome.wave == 1
    assert sorted(record.touched) == ["prod-eu", "staging-eu"]
    assert all(w == Weights.all_stable() for w in sim.router.weights.values())
    assert all(sim.router.writes[c] == 0 for c in WAVE3)
    assert sim.reverter.pushes == 1 and sim.reverter.calls == 1
    assert sim.reverter.reasons[0].kind == "verdict"
    assert record.revert.status.value == "pushed"
    whats = [e.what for e in await events(orch, rollout)]
    assert whats.index("rollback") < whats.index("revert.started") < whats.index("state.failed")


async def test_abort_mid_hold_cancels_rolls_back_and_is_idempotent(tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    driver = Driver(orch)
    in_wave2 = driver.when(lambda what, d: what == "look" and d["cluster"] == "prod-eu")
    rollout = await orch.start(plan(), who="alice")
    await asyncio.wait_for(in_wave2.wait(), 30)
    sim.source.down = True  # abort must not need Prometheus
    report = await orch.abort(rollout, who="oncall", reason="pager: checkout 5xx")
    assert report.state == "aborted" and not report.already
    assert {c.cluster for c in report.rollback.clusters} == {"staging-eu", "prod-eu"}
    assert report.rollback.unreachable == []
    assert all(w == Weights.all_stable() for w in sim.router.weights.values())
    assert sim.reverter.pushes == 1 and sim.reverter.reasons[0].kind == "abort"
    assert "oncall" == sim.reverter.reasons[0].requested_by
    again = await orch.abort(rollout, who="oncall2", reason="again")
    assert again.already and again.state == "aborted"
    assert sim.reverter.calls == 1
    log = await events(orch, rollout)
    abort = next(e for e in log if e.what == "rollout.abort")
    assert (abort.who, abort.details["reason"]) == ("oncall", "pager: checkout 5xx")
    assert log[-1].what == "rollout.abort_repeated"
    # nothing moved after the abort was recorded, except the rollback
    after = [e.what for e in log[log.index(abort):]]
    assert "weights.set" not in after and "look" not in after


async def test_abort_while_waiting_for_approval(tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    waiting = asyncio.Event()
    orch.listeners.append(lambda r, n, what, d: waiting.set()
                          if what == "state.awaiting_approval" else None)
    rollout = await orch.start(plan(), who="alice")
    await waiting.wait()
    report = await orch.abort(rollout, who="oncall", reason="not today")
    assert report.state == "aborted"
    assert {c.cluster for c in report.rollback.clusters} == {"staging-eu", "prod-eu"}
    assert all(w == Weights.all_stable() for w in sim.router.weights.values())


async def test_unreachable_cluster_is_reported_and_retried_until_rolled_back(
        tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    driver = Driver(orch)
    in_wave2 = driver.when(lambda what, d: what == "look" and d["cluster"] == "prod-eu")
    rollout = await orch.start(plan(), who="alice")
    await asyncio.wait_for(in_wave2.wait(), 30)
    sim.router.down.add("staging-eu")
    report = await orch.abort(rollout, who="oncall", reason="incident")
    assert report.pending_rollback == ("staging-eu",)
    assert report.to_dict()["retrying"] is True
    staging = next(c for c in report.rollback.clusters if c.cluster == "staging-eu")
    assert not staging.ok and staging.reason is not None and "staging-eu" in staging.reason
    assert sim.router.weights["prod-eu"] == Weights.all_stable()
    assert sim.router.weights["staging-eu"] == Weights.canary_percent(100)
    retried = driver.when(lambda what, d: what == "rollback.retry")
    await retried.wait()
    sim.router.down.clear()
    record = await orch.wait(rollout)
    assert record.pending_rollback == ()
    assert sim.router.weights["staging-eu"] == Weights.all_stable()
    retries = [e for e in await events(orch, rollout) if e.what == "rollback.retry"]
    assert retries[0].details["unreachable"] == ["staging-eu"]
    assert retries[-1].details["unreachable"] == []


async def test_cluster_unreachable_during_a_step_that_comes_back_in_time(
        tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    driver = Driver(orch)
    sim.router.down.add("prod-eu")
    failed_write = driver.when(lambda what, d: what == "weights.write_failed")
    rollout = await orch.start(plan(), who="alice")
    await failed_write.wait()
    sim.router.down.clear()
    record = await orch.wait(rollout)
    assert record.state is State.SUCCEEDED
    assert any(w == "weights.write_failed" for w, _ in driver.seen)


async def test_cluster_unreachable_for_longer_than_the_patience_fails_the_rollout(
        tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    Driver(orch)
    sim.router.down.add("prod-eu")
    rollout = await orch.start(plan(), who="alice")
    record = await asyncio.wait_for(orch.wait(rollout, settled_only=True), 30)
    assert record.state is State.FAILED
    assert "could not be set" in record.outcome.reason
    assert record.pending_rollback == ("prod-eu",)  # touched: the write may have landed
    assert sim.router.weights["staging-eu"] == Weights.all_stable()
    sim.router.down.clear()
    record = await orch.wait(rollout)
    assert record.pending_rollback == ()


async def test_prometheus_down_for_some_looks_holds_then_continues(tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    driver = Driver(orch)
    first = driver.when(lambda what, d: what == "look" and d["cluster"] == "prod-eu"
                        and d["step"] == 1)
    rollout = await orch.start(plan(), who="alice")
    await first.wait()
    sim.source.down = True
    errors = driver.when(lambda what, d: what == "look" and d["verdict"] == "error")
    await errors.wait()
    await sim.clock.sleep(400)  # the hold of step 1 (5m) ends while the looks fail
    sim.source.down = False
    record = await orch.wait(rollout)
    assert record.state is State.SUCCEEDED
    log = await events(orch, rollout)
    step1 = [e for e in log if e.what == "look" and e.details["cluster"] == "prod-eu"
             and e.details["step"] == 1]
    verdicts = [e.details["verdict"] for e in step1]
    assert "error" in verdicts and verdicts[-1] in ("pass", "continue")
    set_at = next(e.at for e in log if e.what == "weights.set"
                  and e.details["cluster"] == "prod-eu" and e.details["step"] == 1)
    next_step = next(e.at for e in log if e.what == "step.intent"
                     and e.details["cluster"] == "prod-eu" and e.details["step"] == 2)
    assert next_step - set_at > 300 + 60  # held past its time, waiting for a usable look


async def test_prometheus_down_beyond_the_undecided_timeout_fails(tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    Driver(orch)
    sim.source.down = True
    rollout = await orch.start(plan(undecidedTimeout="3m"), who="alice")
    record = await orch.wait(rollout)
    assert record.state is State.FAILED
    assert "no usable verdict" in record.outcome.reason
    assert record.outcome.failed_cluster == "staging-eu"


async def test_on_no_data_fail(tmp_path: Path) -> None:
    sim = sim_world()
    sim.source.versions.canary = "v9"  # the canary's queries match nothing
    orch = await orchestrator(sim, tmp_path / "s.db")
    Driver(orch)
    rollout = await orch.start(plan(onNoData="fail"), who="alice")
    record = await orch.wait(rollout)
    assert record.state is State.FAILED
    assert "onNoData: fail" in record.outcome.reason


async def test_push_rejected_twice_then_exactly_one_revert(tmp_path: Path) -> None:
    sim = sim_world(regressed_in={"prod-eu"}, reject=2)
    orch = await orchestrator(sim, tmp_path / "s.db")
    Driver(orch)
    rollout = await orch.start(plan(), who="alice")
    record = await orch.wait(rollout)
    assert record.state is State.FAILED
    assert sim.reverter.calls == 3 and sim.reverter.pushes == 1
    assert record.revert.status.value == "pushed"
    failures = [e for e in await events(orch, rollout) if e.what == "revert.attempt_failed"]
    assert [f.details["attempt"] for f in failures] == [1, 2]


async def test_push_rejected_every_time_fails_with_a_person_must_act(tmp_path: Path) -> None:
    sim = sim_world(regressed_in={"prod-eu"}, reject=99)
    orch = await orchestrator(sim, tmp_path / "s.db")
    Driver(orch)
    rollout = await orch.start(plan(), who="alice")
    record = await orch.wait(rollout)
    assert record.state is State.FAILED
    assert record.revert.status.value == "failed" and "person must act" in record.revert.summary
    assert all(w == Weights.all_stable() for w in sim.router.weights.values())


async def test_fail_whole_rollout_false_keeps_going(tmp_path: Path) -> None:
    sim = sim_world(regressed_in={"prod-us-east"})
    sim.source.versions.regressed_error_rate = 0.2  # obvious at 10 % within one step
    orch = await orchestrator(sim, tmp_path / "s.db")
    Driver(orch)
    rollout = await orch.start(plan(failWholeRollout=False), who="alice")
    record = await orch.wait(rollout)
    assert record.state is State.PARTIALLY_SUCCEEDED
    assert record.outcome.failed_clusters == ("prod-us-east",)
    assert sim.router.weights["prod-us-east"] == Weights.all_stable()
    assert sim.router.weights["prod-asia"] == Weights.canary_percent(100)
    assert sim.reverter.calls == 0


async def test_approve_in_the_wrong_state_is_refused(tmp_path: Path) -> None:
    from auspice.rollouts.states import IllegalTransition

    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    rollout = await orch.start(plan(), who="alice")
    with pytest.raises(IllegalTransition):
        await orch.approve(rollout, who="bob")
    await orch.abort(rollout, who="x", reason="cleanup")


async def test_two_concurrent_aborts_give_one_rollback_and_one_revert(tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    driver = Driver(orch)
    in_wave2 = driver.when(lambda what, d: what == "look" and d["cluster"] == "prod-eu")
    rollout = await orch.start(plan(), who="alice")
    await asyncio.wait_for(in_wave2.wait(), 30)
    first, second = await asyncio.gather(
        orch.abort(rollout, who="a", reason="one"), orch.abort(rollout, who="b", reason="two"))
    assert first.state == second.state == "aborted"
    assert [first.already, second.already] == [False, True]
    assert sim.reverter.calls == 1
    whats = [e.what for e in await events(orch, rollout)]
    assert whats.count("rollback") == 1 and whats.count("rollout.abort") == 1


async def test_abort_of_a_finished_rollout_changes_nothing(tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    Driver(orch)
    rollout = await orch.start(plan(), who="alice")
    await orch.wait(rollout)
    report = await orch.abort(rollout, who="late", reason="too late")
    assert report.already and report.state == "succeeded"
    assert all(w == Weights.canary_percent(100) for w in sim.router.weights.values())
    assert sim.reverter.calls == 0


async def test_unknown_template_empty_wave_or_unrevertable_release_is_refused_first(
        tmp_path: Path) -> None:
    from auspice.errors import ConfigError
    from auspice.gitops import SshKeyAuth
    from auspice.rollouts.reverter import GitReverter
    from auspice.specs.plan import plan_from_data

    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    data = plan().to_data()
    data["spec"]["analyses"] = [{"template": "nope"}]
    with pytest.raises(ConfigError, match="nope"):
        await orch.start(plan_from_data(data), who="alice")
    data = plan().to_data()
    data["spec"]["waves"][2]["clusters"] = {"matchLabels": {"env": "prod", "region": "mars"}}
    with pytest.raises(ConfigError, match="prod-rest"):
        await orch.start(plan_from_data(data), who="alice")
    sim.world.reverter = GitReverter(cache_dir=tmp_path / "git", repo_options={
        "auth": SshKeyAuth(key_file=tmp_path / "key")})  # plan.yaml's file:// repository
    with pytest.raises(ConfigError, match="cannot be reverted with this service's git"):
        await orch.start(plan(), who="alice")
    data["spec"]["options"] = {"revert": False}  # nothing to revert, nothing to check
    data["spec"]["waves"][2]["clusters"] = {"matchLabels": {"env": "prod"}}
    assert await orch.start(plan_from_data(data), who="alice")
    assert len(await orch.store.ids()) == 1
    await orch.close()


async def test_a_broken_listener_does_not_stop_the_rollout(tmp_path: Path) -> None:
    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")

    def broken(rollout: str, n: int, what: str, details: object) -> None:
        raise RuntimeError("view crashed")

    orch.listeners.append(broken)
    Driver(orch)
    rollout = await orch.start(plan(), who="alice")
    assert (await orch.wait(rollout)).state is State.SUCCEEDED


async def test_a_state_change_on_a_stale_read_writes_nothing(tmp_path: Path) -> None:
    from auspice.rollouts.store import StaleState

    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    rollout = await orch.start(plan(), who="alice")
    await orch.abort(rollout, who="x", reason="stop")
    before = await events(orch, rollout)
    with pytest.raises(StaleState):
        await orch.store.record(rollout, at=0.0, who="driver", what="state.running",
                                fields={"state": State.RUNNING}, expect_state=State.BAKING)
    assert (await orch.status(rollout)).state is State.ABORTED
    assert len(await events(orch, rollout)) == len(before)


async def test_approve_racing_an_abort_never_resumes_the_rollout(tmp_path: Path) -> None:
    from auspice.rollouts.states import IllegalTransition

    sim = sim_world()
    orch = await orchestrator(sim, tmp_path / "s.db")
    waiting = asyncio.Event()
    orch.listeners.append(lambda r, n, what, d: waiting.set()
                          if what == "state.awaiting_approval" else None)
    rollout = await orch.start(plan(), who="alice")
    await waiting.wait()
    results = await asyncio.gather(orch.abort(rollout, who="oncall", reason="race"),
                                   orch.approve(rollout, who="bob"), return_exceptions=True)
    assert results[0].state == "aborted"
    approved = results[1]  # the approval lands before the abort, or is refused after it
    assert not isinstance(approved, BaseException) or isinstance(approved, IllegalTransition)
    record = await orch.wait(rollout)
    assert record.state is State.ABORTED
    assert all(w.canary == 0 for w in sim.router.weights.values())
    assert all(sim.router.writes[c] == 0 for c in ("prod-asia", "prod-us-east", "prod-us-west"))
