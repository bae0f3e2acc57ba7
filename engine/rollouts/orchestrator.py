"""The wave-by-wave driver: a rollout's state machine, turned by events, one task each.

:class:`Orchestrator` owns one asyncio task per active rollout. The task is a loop:
perform an action (begin, run a wave, bake, wait for approval, roll back, revert, record
the outcome), report what came of it as an :class:`~auspice.rollouts.states.Event`, take
the row :func:`~auspice.rollouts.states.apply` gives, write the new state with its audit
entry, and perform *that row's* action next. There are no flags spread through the loop:
everything that moves a rollout is a row of the table, and a restart is the same loop
started on the stored state with the action of the rows that lead into it
(:func:`~auspice.rollouts.states.entry_action`, :meth:`Orchestrator.resume_all`).

A wave runs its clusters concurrently, at most ``maxParallel`` at a time
(:mod:`.wave`). A cluster's FAIL (with ``failWholeRollout``) cancels its siblings and
becomes ``verdict_fail``.

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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auspice.errors import ConfigError, InputError
from auspice.gitops import RevertReason, RevertStatus
from auspice.rollouts.cluster_states import ClusterStatus
from auspice.rollouts.finish import FinishSettings, retry_pending, revert, rollback
from auspice.rollouts.results import RevertResult, RollbackResult, RolloutOutcome
from auspice.rollouts.run import RolloutRun
from auspice.rollouts.states import (
    ABORTABLE,
    FINAL_ACTIONS,
    Action,
    Event,
    IllegalTransition,
    State,
    Transition,
    apply,
    entry_action,
)
from auspice.rollouts.steps import ClusterSettings
from auspice.rollouts.store import RolloutRecord, RolloutStore, StaleState
from auspice.rollouts.wave import run_wave
from auspice.rollouts.world import Listener, World
from auspice.specs import AnalysisTemplate
from auspice.specs.plan import RolloutPlan, plan_from_data
from auspice.traffic.selectors import select

__all__ = ["AbortReport", "Orchestrator", "RolloutNotFound", "Settings"]

log = logging.getLogger("auspice.rollouts")

_PROMOTED = frozenset({State.SUCCEEDED, State.PARTIALLY_SUCCEEDED})


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
    state: State
    already: bool  # the rollout was already finished or rolling back before this call
    rollback: RollbackResult | None
    revert: RevertResult | None
    pending_rollback: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rollout": self.rollout, "state": self.state.value, "already": self.already,
                "rollback": self.rollback.to_dict() if self.rollback else None,
                "revert": self.revert.to_dict() if self.revert else None,
                "pending_rollback": list(self.pending_rollback),
                "retrying": bool(self.pending_rollback)}


Performer = Callable[[RolloutRun, RolloutRecord], Awaitable[Transition | None]]


class Orchestrator:
    """Starts, drives, resumes, approves and aborts rollouts (see the module docstring)."""

    def __init__(self, *, store: RolloutStore, world: World, settings: Settings | None = None,
                 listeners: Sequence[Listener] = ()) -> None:
        self.store = store
        self.world = world
        self.settings = settings or Settings()
        self.listeners = list(listeners)
        self._runs: dict[str, RolloutRun] = {}
        #: What each action of the state table does; a performer returns the row it took
        #: (None: another caller moved the rollout, or the driver's work is over).
        self._performers: dict[Action, Performer] = {
            Action.BEGIN: self._begin,
            Action.WAIT_APPROVAL: self._wait_approval,
            Action.RUN_WAVE: self._run_wave,
            Action.BAKE: self._bake,
            Action.ROLLBACK: self._rollback,
            Action.REVERT: self._revert,
            Action.RECORD_SUCCESS: self._record_success,
            Action.RECORD_FAILURE: self._record_failure,
        }

    # -- public API ------------------------------------------------------------------

    async def start(self, plan: RolloutPlan, *, who: str) -> str:
        """Create a rollout of ``plan`` and start driving it; returns its id."""
        self._templates(plan)  # an unknown template is refused before anything is stored
        if plan.spec.options.revert:
            self.world.reverter.check(plan)  # so is a release that could not be reverted
        waves = self.select(plan)
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
        """Cancel, roll back everywhere touched, revert; answer with per-cluster results.

        The table decides: from a state that is still moving, the abort row starts a
        rollback; from a rollback already under way its row does nothing (the caller
        waits for that rollback); from a final state there is no row, and the refusal is
        recorded (a promoted rollout is not undone by an abort)."""
        run = await self._run(rollout)
        async with run.abort_lock:
            record = await self._record(rollout)
            already = record.state not in ABORTABLE
            if run.advancing and run.task is not None:
                run.task.cancel()  # no await between the check and the cancel
                with contextlib.suppress(asyncio.CancelledError):
                    await run.task
                record = await self._record(rollout)
            await self._record_abort(run, record, who=who, reason=reason)
            if run.task is None or run.task.done():
                if record.state.final and not record.pending_rollback:
                    run.settled.set()
                else:
                    run.settled.clear()
                    self._launch(run)
        await asyncio.shield(run.settled.wait())
        record = await self._record(rollout)
        outcome = record.outcome or RolloutOutcome()
        return AbortReport(rollout, record.state, already, outcome.rollback, record.revert,
                           record.pending_rollback)

    async def _record_abort(self, run: RolloutRun, record: RolloutRecord, *, who: str,
                            reason: str) -> None:
        """Take the abort row for the rollout's current state (re-read if it moved)."""
        while True:
            try:
                transition = apply(record.state, Event.ABORT)
            except IllegalTransition:  # final: nothing to cancel, nothing new to do
                what = ("rollout.abort_refused" if record.state in _PROMOTED
                        else "rollout.abort_repeated")
                await run.record(what, who=who, details={"reason": reason,
                                                         "state": record.state.value})
                return
            if transition.action is Action.NONE:  # a rollback is under way: it goes on
                await run.record("rollout.abort_repeated", who=who, details={
                    "reason": reason, "state": record.state.value})
                return
            try:
                await run.record("rollout.abort", who=who, details={
                    "reason": reason, "from": record.state.value, "wave": record.wave},
                    fields={"state": transition.next, "aborted": True},
                    expect_state=record.state)
                return
            except StaleState:  # an approval or the driver moved it: decide again
                record = await self._record(run.id)

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

    def select(self, plan: RolloutPlan) -> dict[str, int]:
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

    # -- setting up ------------------------------------------------------------------

    def _templates(self, plan: RolloutPlan) -> dict[str, AnalysisTemplate]:
        return {ref.template: self.world.templates.get(ref.template)
                for ref in plan.spec.analyses}

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
            action = entry_action(record.state)
            while True:
                # stays True through the re-read below: an abort may cancel us there too
                run.advancing = record.state in ABORTABLE
                try:
                    transition = await self._performers[action](run, record)
                except StaleState:  # an abort or an approval moved the rollout meanwhile
                    transition = None
                if transition is None and action in FINAL_ACTIONS:
                    return
                record = await self._record(run.id)
                action = (transition.action if transition is not None
                          and transition.action is not Action.NONE
                          else entry_action(record.state))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("rollout %s: driver stopped by an unexpected error", run.id)
            raise
        finally:
            run.advancing = False
            run.settled.set()  # an abort that cancelled this driver clears it again

    async def _move(self, run: RolloutRun, record: RolloutRecord, event: Event, *,
                    details: Mapping[str, Any] | None = None, **fields: Any) -> Transition:
        """Take the row for ``event`` and record it; the caller performs its action next."""
        transition = apply(record.state, event, aborted=record.aborted)
        await run.record(f"state.{transition.next.value}", details={
            "event": event.value, "from": record.state.value, "action":
            transition.action.value, **(details or {})},
            fields={"state": transition.next, **fields}, expect_state=record.state)
        return transition

    # -- the actions -----------------------------------------------------------------

    async def _begin(self, run: RolloutRun, record: RolloutRecord) -> Transition:
        needs = run.plan.spec.waves[0].require_approval and record.approved_wave < 0
        return await self._move(run, record,
                                Event.WAVE_NEEDS_APPROVAL if needs else Event.START)

    async def _wait_approval(self, run: RolloutRun, record: RolloutRecord) -> None:
        """Until a person approves (:meth:`approve` takes that row) or aborts."""
        run.approved.clear()
        while (await self._record(run.id)).state is State.AWAITING_APPROVAL:
            await run.approved.wait()
            run.approved.clear()

    async def _run_wave(self, run: RolloutRun, record: RolloutRecord) -> Transition:
        plan, index = run.plan, record.wave
        result = await run_wave(run, record, templates=self._templates(plan),
                                cluster=self.settings.cluster, finish=self.settings.finish)
        if result.failed is not None:
            failed = result.failed
            return await self._move(
                run, await self._record(run.id), Event.VERDICT_FAIL,
                details={"cluster": failed.cluster, "reason": failed.reason},
                outcome=RolloutOutcome(failed_cluster=failed.cluster, reason=failed.reason,
                                       wave=index))
        record = await self._record(run.id)
        if index + 1 < len(plan.spec.waves):
            bake = plan.spec.options.bake_time or 0.0
            return await self._move(run, record, Event.WAVE_PASSED, details={"wave": index},
                                    wave=index + 1, bake_until=self.world.clock.now() + bake)
        failed_clusters = tuple(r.cluster for r in record.clusters
                                if r.status is ClusterStatus.FAILED)
        event = (Event.LAST_WAVE_PASSED_WITH_FAILURES if failed_clusters
                 else Event.LAST_WAVE_PASSED)
        return await self._move(run, record, event, outcome=RolloutOutcome(
            promoted=True, failed_clusters=failed_clusters))

    async def _bake(self, run: RolloutRun, record: RolloutRecord) -> Transition:
        remaining = (record.bake_until or 0.0) - self.world.clock.now()
        await run.record("bake", details={"wave": record.wave,
                                          "remaining_seconds": max(0.0, remaining)})
        await self.world.clock.sleep(max(0.0, remaining))
        needs = (run.plan.spec.waves[record.wave].require_approval
                 and record.approved_wave < record.wave)
        return await self._move(run, record,
                                Event.WAVE_NEEDS_APPROVAL if needs else Event.BAKED)

    async def _rollback(self, run: RolloutRun, record: RolloutRecord) -> Transition:
        result = await rollback(run, sorted({*record.touched, *record.pending_rollback}),
                                self.settings.finish)
        outcome = (record.outcome or RolloutOutcome()).with_rollback(result)
        return await self._move(run, record, Event.ROLLED_BACK, outcome=outcome)

    async def _revert(self, run: RolloutRun, record: RolloutRecord) -> Transition:
        outcome = record.outcome or RolloutOutcome()
        reason = RevertReason(kind="abort" if record.aborted else "verdict",
                              summary=await self._reason(run, record),
                              requested_by=await self._who(run))
        result = await revert(run, self.world.reverter, self.settings.finish, reason=reason,
                              previous=record.revert)
        event = (Event.REVERT_FAILED if result.status is RevertStatus.FAILED
                 else Event.REVERTED)
        return await self._move(run, record, event, details={"revert": result.to_dict()},
                                revert=result, outcome=outcome.with_revert(result.status))

    async def _record_success(self, run: RolloutRun, record: RolloutRecord) -> None:
        """The promotion is recorded (with the row that led here): the rollout is settled."""
        run.settled.set()
        log.info("rollout %s: %s", run.id, record.state.value,
                 extra={"event": "rollout.promoted", "rollout": run.id})

    async def _record_failure(self, run: RolloutRun, record: RolloutRecord) -> None:
        """The failure is recorded: settled, and any cluster that did not answer the
        rollback is retried until it does (across restarts: the list is stored)."""
        run.settled.set()
        if record.pending_rollback:
            await retry_pending(run, self.settings.finish)

    async def _reason(self, run: RolloutRun, record: RolloutRecord) -> str:
        if record.aborted:
            aborts = [e for e in await self.store.events(run.id) if e.what == "rollout.abort"]
            if aborts:
                return f"aborted by {aborts[-1].who}: {aborts[-1].details.get('reason')}"
        outcome = record.outcome or RolloutOutcome()
        return f"analysis failed in {outcome.failed_cluster}: {outcome.reason}"

    async def _who(self, run: RolloutRun) -> str:
        aborts = [e for e in await self.store.events(run.id) if e.what == "rollout.abort"]
        return aborts[-1].who if aborts else "auspice"
