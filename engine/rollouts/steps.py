"""One cluster's part of a wave: step the weight up, hold, look, decide.

For every step the cluster goes through the same three moves, each written to the store
so a restart can pick up exactly there:

1. *intent*: the step number is recorded and the cluster marked ``touched`` before any
   write, so a rollback after a crash mid-write still reaches it;
2. *write*: the router sets the weights; a cluster that cannot be reached or keeps
   answering 409 is retried with backoff on the clock for ``write_patience`` seconds,
   then the cluster fails (and with ``failWholeRollout`` the rollout rolls back);
3. *hold*: the step's hold time runs from the recorded moment the write landed, with
   a look every analysis interval. FAIL ends the step at once. The hold ends when its
   time is up and the last look is usable (PASS or CONTINUE); a look that is NO DATA
   or ERROR (Prometheus down) does not let the step end. It waits for a usable look up
   to ``undecidedTimeout`` after the hold, then fails; with ``onNoData: fail`` a NO
   DATA look fails at once.

Comparisons need a baseline: at weight 100 no request reaches it, so the last step
is not judged; its hold is the time the cluster stays promoted before it counts as
done. After a restart, :func:`run_cluster` continues the step it finds in the store:
the live weights are read back (and re-set if a crash came between intent and write),
and the hold goes on for what remains of it, not from zero and not shorter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auspice.errors import AuspiceError
from auspice.rollouts.cluster_states import ClusterStatus
from auspice.rollouts.looks import USABLE, Look, analyses_of, look, prepare_analyses
from auspice.rollouts.run import RolloutRun
from auspice.rollouts.store import ClusterRow
from auspice.specs import AnalysisTemplate
from auspice.specs.plan import Step
from auspice.stats import Decision
from auspice.traffic.router import SetOutcome, WeightDriftError, Weights

__all__ = ["ClusterFailed", "ClusterResult", "ClusterSettings", "run_cluster"]


@dataclass(frozen=True)
class ClusterSettings:
    write_patience: float = 120.0  # how long a step's write may keep failing
    retry_backoff: float = 2.0
    retry_backoff_cap: float = 30.0
    look_timeout: float = 60.0


@dataclass(frozen=True)
class ClusterResult:
    cluster: str
    passed: bool
    reason: str


class ClusterFailed(Exception):
    """A cluster's analysis failed or its weights could not be set (carries the result)."""

    def __init__(self, result: ClusterResult) -> None:
        super().__init__(result.reason)
        self.result = result


async def run_cluster(run: RolloutRun, row: ClusterRow, *, wave: int,
                      templates: Mapping[str, AnalysisTemplate],
                      settings: ClusterSettings) -> ClusterResult:
    """Take ``row``'s cluster through the wave's steps from where the store says it is."""
    steps = run.plan.spec.waves[wave].steps
    if row.status is ClusterStatus.DONE:
        return ClusterResult(row.cluster, True, "already done")
    if row.status is ClusterStatus.FAILED:  # failWholeRollout: false, failed before a restart
        return ClusterResult(row.cluster, False, "failed before the restart")
    analysis_start = row.analysis_start
    for index in range(max(row.step, 0), len(steps)):
        if index == row.step and row.step_started_at is not None:
            started = await _resume_step(run, row, index, steps[index], settings)
        else:
            started = await _set_step(run, row.cluster, wave, index, steps[index], settings,
                                      first=analysis_start is None)
        analysis_start = analysis_start if analysis_start is not None else started
        prepare_analyses(run, row.cluster, analysis_start, templates)
        last = await _hold(run, row.cluster, wave, index, steps[index], started, templates,
                           look_timeout=settings.look_timeout)
        if last is not None and last.decision is Decision.FAIL:
            await run.record("cluster.failed", details={
                "cluster": row.cluster, "wave": wave, "step": index, "reason": last.reason},
                clusters={row.cluster: {"status": ClusterStatus.FAILED,
                                        "last_verdict": "fail"}})
            return ClusterResult(row.cluster, False, last.reason)
    await run.record("cluster.done", details={"cluster": row.cluster, "wave": wave},
                     clusters={row.cluster: {"status": ClusterStatus.DONE}})
    return ClusterResult(row.cluster, True, "promoted")


async def _set_step(run: RolloutRun, cluster: str, wave: int, index: int, step: Step,
                    settings: ClusterSettings, *, first: bool) -> float:
    await run.record("step.intent", details={"cluster": cluster, "wave": wave, "step": index,
                                             "weight": step.weight},
                     clusters={cluster: {"step": index, "step_started_at": None,
                                         "touched": True, "status": ClusterStatus.STEPPING}})
    outcome = await _write(run, cluster, Weights.canary_percent(step.weight), settings)
    now = run.clock.now()
    fields: dict[str, Any] = {"weight": step.weight, "step_started_at": now,
                              "status": ClusterStatus.HOLDING}
    if first:
        fields["analysis_start"] = now
    await run.record("weights.set", details={
        "cluster": cluster, "wave": wave, "step": index, "weight": step.weight,
        "hold_seconds": step.hold, "conflicts": outcome.conflicts,
        "previous": str(outcome.previous) if outcome.previous else None},
        clusters={cluster: fields})
    return now


async def _resume_step(run: RolloutRun, row: ClusterRow, index: int, step: Step,
                       settings: ClusterSettings) -> float:
    """Read the live weights back; re-set them if they are not the step's."""
    cluster, wanted = row.cluster, Weights.canary_percent(step.weight)
    run.router.expect(cluster, wanted)  # what the store says Auspice last set there
    try:
        live: Weights | str = await run.router.get_weights(cluster)
    except AuspiceError as error:
        live = f"unreadable: {error}"
    started = float(row.step_started_at or run.clock.now())
    details = {"cluster": cluster, "step": index, "weight": step.weight, "live": str(live),
               "held_seconds": max(0.0, run.clock.now() - started),
               "remaining_seconds": max(0.0, started + step.hold - run.clock.now())}
    await run.record("step.resumed", details=details)
    if live != wanted:
        await _write(run, cluster, wanted, settings, force=True)
        await run.record("weights.reapplied", details={"cluster": cluster, "weight": step.weight})
    return started


async def _write(run: RolloutRun, cluster: str, weights: Weights, settings: ClusterSettings,
                 *, force: bool = False) -> SetOutcome:
    """Set ``weights``, retrying failures for ``write_patience`` seconds of the clock."""
    deadline = run.clock.now() + settings.write_patience
    delay, attempt = settings.retry_backoff, 0
    while True:
        attempt += 1
        try:
            return await run.router.set_weights(cluster, weights, force=force)
        except WeightDriftError as error:
            raise ClusterFailed(ClusterResult(cluster, False, str(error))) from error
        except AuspiceError as error:
            await run.record("weights.write_failed", details={
                "cluster": cluster, "weights": str(weights), "attempt": attempt,
                "error": str(error)})
            if run.clock.now() + delay > deadline:
                raise ClusterFailed(ClusterResult(
                    cluster, False, f"cluster {cluster}: weights {weights} could not be set "
                    f"in {settings.write_patience:g}s ({attempt} attempts): {error}")) from error
        await run.clock.sleep(delay)
        delay = min(delay * 2, settings.retry_backoff_cap)


async def _hold(run: RolloutRun, cluster: str, wave: int, index: int, step: Step,
                started: float, templates: Mapping[str, AnalysisTemplate], *,
                look_timeout: float) -> Look | None:
    """Hold the step, looking every interval; the last look (None at weight 100)."""
    clock, deadline = run.clock, started + step.hold
    if step.weight >= 100 or not templates:
        await clock.sleep(max(0.0, deadline - clock.now()))
        return None
    options = run.plan.spec.options
    analyses = analyses_of(run, cluster, templates)
    tick = min(a.interval for a in analyses.values())
    origin = min(a.start for a in analyses.values())
    last: Look | None = None
    while True:
        now = clock.now()
        next_look = origin + tick * (math.floor((now - origin) / tick + 1e-9) + 1)
        usable = last is not None and last.decision in USABLE
        if next_look > deadline and usable:
            await clock.sleep(max(0.0, deadline - now))
            return last
        if next_look > deadline + options.undecided_timeout:
            reason = (f"no usable verdict within {options.undecided_timeout:g}s after the "
                      f"hold ended (last look: {last.reason if last else 'none'})")
            return Look(Decision.FAIL, reason, {})
        await clock.sleep(max(0.0, next_look - now))
        last = await look(run, analyses, look_timeout)
        await run.record("look", details={
            "cluster": cluster, "wave": wave, "step": index, "weight": step.weight,
            "verdict": last.decision.value, "reason": last.reason,
            "analyses": last.per_template}, clusters={cluster: {"last_verdict":
                                                                 last.decision.value}})
        if last.decision is Decision.FAIL:
            return last
        if last.decision is Decision.NO_DATA and options.on_no_data == "fail":
            return Look(Decision.FAIL, f"no data, and the plan says onNoData: fail "
                        f"({last.reason})", last.per_template)


