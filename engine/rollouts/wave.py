"""One wave: its clusters step and hold concurrently, at most ``maxParallel`` at a time.

Each cluster goes through the wave's steps on its own (:mod:`.steps`). A cluster that
fails either fails the whole rollout (``failWholeRollout``, the default: its siblings are
cancelled at once and the orchestrator rolls everything back) or is rolled back alone
and the others go on; the wave then ends *passed with failures*, which the orchestrator
records as a partial success.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from auspice.rollouts.cluster_states import ClusterStatus
from auspice.rollouts.finish import FinishSettings, rollback
from auspice.rollouts.run import RolloutRun
from auspice.rollouts.steps import ClusterFailed, ClusterResult, ClusterSettings, run_cluster
from auspice.rollouts.store import ClusterRow, RolloutRecord
from auspice.specs import AnalysisTemplate

__all__ = ["WaveResult", "run_wave"]


@dataclass(frozen=True)
class WaveResult:
    """How a wave ended: the cluster that failed the rollout, if one did."""

    failed: ClusterResult | None

    @property
    def passed(self) -> bool:
        return self.failed is None


async def run_wave(run: RolloutRun, record: RolloutRecord, *,
                   templates: Mapping[str, AnalysisTemplate], cluster: ClusterSettings,
                   finish: FinishSettings) -> WaveResult:
    """Run the wave ``record`` is in, from where each of its clusters is."""
    plan, index = run.plan, record.wave
    wave = plan.spec.waves[index]
    rows = [row for row in record.clusters if row.wave == index]
    gate = asyncio.Semaphore(wave.max_parallel or len(rows))
    fail_whole = plan.spec.options.fail_whole_rollout

    async def one(row: ClusterRow) -> ClusterResult:
        async with gate:
            try:
                result = await run_cluster(run, row, wave=index, templates=templates,
                                           settings=cluster)
            except ClusterFailed as failure:
                result = failure.result
                await run.record("cluster.failed", details={"cluster": row.cluster,
                                                            "reason": result.reason},
                                 clusters={row.cluster: {"status": ClusterStatus.FAILED}})
            if not result.passed and fail_whole:
                raise ClusterFailed(result)
            if not result.passed:
                await rollback(run, [row.cluster], finish, what="cluster.rollback",
                               status=ClusterStatus.FAILED)
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
    return WaveResult(failed)
