"""The wave-by-wave driver: a rollout's state machine, turned by events, one task each.

:class:`Orchestrator` owns one asyncio task per active rollout. The task is a loop that
looks up the rollout's state in the store, performs the action :data:`ON_ENTRY` names
for it (run a wave, bake, wait for approval, roll back, revert), and reports the
outcome as an :class:`~auspice.rollout_states.Event`; :func:`~auspice.rollout_states.apply`
gives the next state, and the change and its audit entry are written together. There
are no flags spread through the loop: everything that moves a rollout is a row of the
table, and a restart is just the same loop started on the stored state
(:meth:`Orchestrator.resume_all`).

A wave runs its clusters concurrently, at most ``maxParallel`` at a time. A cluster's
FAIL (with ``failWholeRollout``) cancels its siblings and becomes ``verdict_fail``.

Abort is cancellation plus rollback, never a flag polled later: :meth:`Orchestrator.abort`
cancels the driver while it is advancing (a hold, a look, a weight write), records the
abort, and starts the driver again on ROLLING_BACK, which sets weight 0 everywhere this
rollout touched and reverts; the caller gets the per-cluster result as soon as the
rollout is settled. Aborting again, or aborting a rollout already rolling back because
of a FAIL, waits for that rollback and answers with its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auspice.errors import ConfigError, InputError
from auspice.gitops import RevertReason
from auspice.plan import RolloutPlan, plan_from_data
from auspice.rollout_cluster import ClusterFailed, ClusterResult, ClusterSettings, run_cluster
from auspice.rollout_finish import (
    FinishSettings,
    retry_pending,
    revert,
    rollback,
    rollback_details,
)
from auspice.rollout_run import Listener, RolloutRun, World
from auspice.rollout_states import (
    ABORTABLE,
    ON_ENTRY,
    Action,
    Event,
    IllegalTransition,
    State,
    apply,
)
from auspice.rollout_store import RolloutRecord, RolloutStore, StaleState
from auspice.specs import AnalysisTemplate
from auspice.traffic.selectors import select

__all__ = ["AbortReport", "Orchestrator", "RolloutNotFound", "Settings"]

log = logging.getLogger("auspice.orchestrator")


class RolloutNotFound(InputError):
    """No rollout with that id in the state database."""


@dataclass(frozen=True)
class Settings:
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    finish: FinishSettings = field(default_factory=FinishSettings)


@dataclass(frozen=True)
class AbortReport:
    """What an abort answers: the rollout's final state and every cluster's rollback."""

    rollout: str
    state: str
    already: bool  # the rollout was already finished or rolling back before this call
    rollback: Mapping[str, Any] | None
    revert: Mapping[str, Any] | None
    pending_rollback: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rollout": self.rollout, "state": self.state, "already": self.already,
                "rollback": self.rollback, "revert": self.revert,
                "pending_rollback": list(self.pending_rollback),
                "retrying": bool(self.pending_rollback)}


class Orchestrator:
    """Starts, drives, resumes, approves and aborts rollouts (see the module docstring)."""

    def __init__(self, *, store: RolloutStore, world: World, settings: Settings | None = None,
                 listeners: Sequence[Listener] = ()) -> None:
        self.store = store
        self.world = world
        self.settings = settings or Settings()
        self.listeners = list(listeners)
        self._runs: dict[str, RolloutRun] = {}

    # -- public API ------------------------------------------------------------------

    async def start(self, plan: RolloutPlan, *, who: str) -> str:
        """Create a rollout of ``plan`` and start driving it; returns its id."""
        self._templates(plan)  # an unknown template is refused before anything is stored
        if plan.spec.options.revert:
            self.world.reverter.check(plan)  # so is a release that could not be reverted
        waves = self._select(plan)
        rollout = await self.store.create(
            name=plan.name, plan=plan.to_data(), clusters=waves, who=who,
            at=self.world.clock.now(),
            details={"plan": plan.name, "waves": {w.name: [c for c, i in waves.items()
                                                           if i == k]
                                                  for k, w in enumerate(plan.spec.waves)},
                     "release": plan.spec.release.model_dump()})
        self._launch(self._run_for(rollout, plan))
        return rollout

    async def resume_all(self) -> list[str]:
        """Drive again every rollout the store says is not settled (after a restart)."""
        resumed = []
        for rollout in await self.store.ids(active_only=True):
            if rollout in self._runs and self._runs[rollout].task is not None:
                continue
            record = await self._record(rollout)
            run = self._run_for(rollout, plan_from_data(record.plan, source=rollout))
            await run.record("rollout.resumed", details={"state": record.state.value,
                                                         "wave": record.wave})
            self._launch(run)
            resumed.append(rollout)
        return resumed

    async def status(self, rollout: str) -> RolloutRecord:
        return await self._record(rollout)

    async def approve(self, rollout: str, *, who: str) -> RolloutRecord:
        """Let the wave that waits for approval start (InputError in any other state)."""
        run = await self._run(rollout)
        record = await self._record(rollout)
        transition = apply(record.state, Event.APPROVED)
        try:
            await run.record("rollout.approved", who=who, details={
                "wave": record.wave, "state": transition.next.value},
                fields={"state": transition.next, "approved_wave": record.wave},
                expect_state=record.state)
        except StaleState as error:
            raise IllegalTransition(f"not approved: {error}",
                                    hint="read the rollout's state and try again") from None
        run.approved.set()
        return await self._record(rollout)

    async def abort(self, rollout: str, *, who: str, reason: str) -> AbortReport:
        """Cancel, roll back everywhere touched, revert; answer with per-cluster results."""
        run = await self._run(rollout)
        async with run.abort_lock:
            record = await self._record(rollout)
            already = record.state not in ABORTABLE
            if run.advancing and run.task is not None:
                run.task.cancel()  # no await between the check and the cancel
                with contextlib.suppress(asyncio.CancelledError):
                    await run.task
                record = await self._record(rollout)
            while record.state in ABORTABLE:  # (while-else: the else runs unless recorded)
                transition = apply(record.state, Event.ABORT)
                try:
                    await run.record("rollout.abort", who=who, details={
                        "reason": reason, "from": record.state.value, "wave": record.wave},
                        fields={"state": transition.next, "aborted": True},
                        expect_state=record.state)
                    break
                except StaleState:  # an approval or the driver moved it: decide again
                    record = await self._record(rollout)
            else:  # already rolling back or over: nothing to cancel, nothing new to do
                promoted = record.state in (State.SUCCEEDED, State.PARTIALLY_SUCCEEDED)
                what = "rollout.abort_refused" if promoted else "rollout.abort_repeated"
                await run.record(what, who=who, details={
                    "reason": reason, "state": record.state.value})
            if run.task is None or run.task.done():
                if record.state.final and not record.pending_rollback:
                    run.settled.set()
                else:
                    run.settled.clear()
                    self._launch(run)
        await asyncio.shield(run.settled.wait())
        record = await self._record(rollout)
        outcome = record.outcome or {}
        return AbortReport(rollout, record.state.value, already, outcome.get("rollback"),
                           record.revert, record.pending_rollback)

    async def wait(self, rollout: str, *, settled_only: bool = False) -> RolloutRecord:
        """Wait until the rollout is final (``settled_only``) or its driver has ended."""
        run = await self._run(rollout)
        if settled_only:
            await run.settled.wait()
        else:
            while run.task is not None and not run.task.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(run.task)
        return await self._record(rollout)

    async def close(self) -> None:
        """Stop every driver (a shutdown, not an abort: the store keeps where they were)."""
        tasks = [run.task for run in self._runs.values() if run.task and not run.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- setting up ------------------------------------------------------------------

    def _templates(self, plan: RolloutPlan) -> dict[str, AnalysisTemplate]:
        return {ref.template: self.world.templates(ref.template) for ref in plan.spec.analyses}

    def _select(self, plan: RolloutPlan) -> dict[str, int]:
        """Each cluster's wave: the first wave whose selector matches it."""
        chosen: dict[str, int] = {}
        for index, wave in enumerate(plan.spec.waves):
            picked = [c.name for c in select(self.world.clusters, wave.clusters)
                      if c.name not in chosen]
            if not picked:
                raise ConfigError(f"plan {plan.name}: wave {wave.name!r} selects no cluster "
                                  f"({wave.clusters}) that an earlier wave did not take",
                                  hint="check the selector against the inventory's labels")
            chosen.update(dict.fromkeys(picked, index))
        return chosen

    def _run_for(self, rollout: str, plan: RolloutPlan) -> RolloutRun:
        run = RolloutRun(id=rollout, plan=plan, router=self.world.router_for(plan),
                         store=self.store, clock=self.world.clock, source=self.world.source,
                         listeners=self.listeners)
        self._runs[rollout] = run
        return run

    def _launch(self, run: RolloutRun) -> None:
        run.task = asyncio.get_running_loop().create_task(self._drive(run),
                                                          name=f"rollout {run.id}")

    async def _run(self, rollout: str) -> RolloutRun:
        run = self._runs.get(rollout)
        if run is None:
            record = await self._record(rollout)
            run = self._run_for(rollout, plan_from_data(record.plan, source=rollout))
        return run

    async def _record(self, rollout: str) -> RolloutRecord:
        record = await self.store.get(rollout)
        if record is None:
            raise RolloutNotFound(f"no rollout {rollout!r}",
                                  hint="list rollouts with 'auspice rollout status'")
        return record

    # -- the driver ------------------------------------------------------------------

    async def _drive(self, run: RolloutRun) -> None:
        try:
            run.advancing = True  # an abort may cancel even the first read
            record = await self._record(run.id)
            while not record.state.final:
                # stays True through the re-read below: an abort may cancel us there too
                run.advancing = record.state in ABORTABLE
                with contextlib.suppress(StaleState):  # moved meanwhile: read it again
                    await self._step(run, record)
                record = await self._record(run.id)
            run.settled.set()
            if record.pending_rollback:
                await retry_pending(run, self.settings.finish)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("rollout %s: driver stopped by an unexpected error", run.id)
            raise
        finally:
            run.advancing = False
            run.settled.set()  # an abort that cancelled this driver clears it again

    async def _step(self, run: RolloutRun, record: RolloutRecord) -> None:
        """Perform the action of the current state, then report its event."""
        if record.state is State.PENDING:
            needs = run.plan.spec.waves[0].require_approval and record.approved_wave < 0
            await self._move(run, record, Event.WAVE_NEEDS_APPROVAL if needs else Event.START)
            return
        action = ON_ENTRY[record.state]
        if action is Action.WAIT_APPROVAL:
            run.approved.clear()
            while (await self._record(run.id)).state is State.AWAITING_APPROVAL:
                await run.approved.wait()
                run.approved.clear()
        elif action is Action.RUN_WAVE:
            await self._run_wave(run, record)
        elif action is Action.BAKE:
            await self._bake(run, record)
        elif action is Action.ROLLBACK:
            report = await rollback(run, sorted({*record.touched, *record.pending_rollback}),
                                    self.settings.finish)
            await self._move(run, record, Event.ROLLED_BACK,
                             outcome={**(record.outcome or {}),
                                      "rollback": rollback_details(report)})
        elif action is Action.REVERT:
            await self._revert(run, record)

    async def _move(self, run: RolloutRun, record: RolloutRecord, event: Event, *,
                    details: Mapping[str, Any] | None = None, **fields: Any) -> None:
        transition = apply(record.state, event, aborted=record.aborted)
        await run.record(f"state.{transition.next.value}", details={
            "event": event.value, "from": record.state.value, "action":
            transition.action.value, **(details or {})},
            fields={"state": transition.next, **fields}, expect_state=record.state)

    async def _run_wave(self, run: RolloutRun, record: RolloutRecord) -> None:
        plan, index = run.plan, record.wave
        wave = plan.spec.waves[index]
        rows = [row for row in record.clusters if row.wave == index]
        gate = asyncio.Semaphore(wave.max_parallel or len(rows))
        templates = self._templates(plan)
        fail_whole = plan.spec.options.fail_whole_rollout

        async def one(row: Any) -> ClusterResult:
            async with gate:
                try:
                    result = await run_cluster(run, row, wave=index, templates=templates,
                                               settings=self.settings.cluster)
                except ClusterFailed as failure:
                    result = failure.result
                    await run.record("cluster.failed", details={"cluster": row.cluster,
                                                                "reason": result.reason},
                                     clusters={row.cluster: {"status": "failed"}})
                if not result.passed and fail_whole:
                    raise ClusterFailed(result)
                if not result.passed:
                    await rollback(run, [row.cluster], self.settings.finish,
                                   what="cluster.rollback", status="failed")
                return result

        await run.record("wave.started", details={"wave": index, "name": wave.name,
                                                  "clusters": [r.cluster for r in rows]})
        failed: ClusterResult | None = None
        try:
            async with asyncio.TaskGroup() as group:
                for row in rows:
                    group.create_task(one(row))
        except* ClusterFailed as failures:
            first = failures.exceptions[0]
            assert isinstance(first, ClusterFailed)
            failed = first.result
        if failed is not None:
            await self._move(run, await self._record(run.id), Event.VERDICT_FAIL,
                             details={"cluster": failed.cluster, "reason": failed.reason},
                             outcome={"failed_cluster": failed.cluster,
                                      "reason": failed.reason, "wave": index})
            return
        record = await self._record(run.id)
        any_failed = any(r.status == "failed" for r in record.clusters)
        if index + 1 < len(plan.spec.waves):
            bake = plan.spec.options.bake_time or 0.0
            await self._move(run, record, Event.WAVE_PASSED, details={"wave": index},
                             wave=index + 1, bake_until=self.world.clock.now() + bake)
        else:
            event = (Event.LAST_WAVE_PASSED_WITH_FAILURES if any_failed
                     else Event.LAST_WAVE_PASSED)
            await self._move(run, record, event, outcome={
                "result": "promoted", "failed_clusters": [
                    r.cluster for r in record.clusters if r.status == "failed"]})

    async def _bake(self, run: RolloutRun, record: RolloutRecord) -> None:
        remaining = (record.bake_until or 0.0) - self.world.clock.now()
        await run.record("bake", details={"wave": record.wave,
                                          "remaining_seconds": max(0.0, remaining)})
        await self.world.clock.sleep(max(0.0, remaining))
        needs = (run.plan.spec.waves[record.wave].require_approval
                 and record.approved_wave < record.wave)
        await self._move(run, record, Event.WAVE_NEEDS_APPROVAL if needs else Event.BAKED)

    async def _revert(self, run: RolloutRun, record: RolloutRecord) -> None:
        outcome = record.outcome or {}
        kind = "abort" if record.aborted else "verdict"
        summary = await self._reason(run, record)
        reason = RevertReason(kind=kind, summary=summary, requested_by=await self._who(run))
        result = await revert(run, self.world.reverter, self.settings.finish, reason=reason,
                              previous=dict(record.revert) if record.revert else None)
        event = Event.REVERT_FAILED if result.get("status") == "failed" else Event.REVERTED
        await self._move(run, record, event, details={"revert": result}, revert=result,
                         outcome={**outcome, "revert_status": result.get("status")})

    async def _reason(self, run: RolloutRun, record: RolloutRecord) -> str:
        if record.aborted:
            events = await self.store.events(run.id)
            aborts = [e for e in events if e.what == "rollout.abort"]
            if aborts:
                return f"aborted by {aborts[-1].who}: {aborts[-1].details.get('reason')}"
        outcome = record.outcome or {}
        return f"analysis failed in {outcome.get('failed_cluster')}: {outcome.get('reason')}"

    async def _who(self, run: RolloutRun) -> str:
        events = await self.store.events(run.id)
        aborts = [e for e in events if e.what == "rollout.abort"]
        return aborts[-1].who if aborts else "auspice"
