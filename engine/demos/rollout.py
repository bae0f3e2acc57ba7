"""``auspice demo``: a whole multi-cluster rollout, in a simulated world, in seconds.

The demo runs the real orchestrator, judges, state file and Git revert code against a
world that needs no external service: five labelled clusters behind an in-memory
router, Istio-shaped request and error counts that follow the weights the orchestrator
sets, and a real temporary Git repository (a bare remote and the release commit). The
clock is virtual, so a rollout of about an hour of waves, holds and bakes takes a few
seconds.

Two releases go through the same three-wave plan. The healthy one is promoted
everywhere. The regressed one is fine in staging but raises the error rate in
``prod-eu``: the analysis fails in the second wave, traffic returns to stable in every
touched cluster at once, and the release commit is reverted in the Git repository.
:func:`run_release` runs one of them with a view listening (``auspice demo`` shows it
live, :mod:`auspice.cli.demo`) and returns the final record.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from auspice.analysis.templates import TemplateResolver
from auspice.clock import VirtualClock
from auspice.gitops import RevertStatus
from auspice.rollouts.orchestrator import Orchestrator
from auspice.rollouts.reverter import GitReverter
from auspice.rollouts.states import State
from auspice.rollouts.store import RolloutRecord, RolloutStore
from auspice.rollouts.world import Listener, World
from auspice.simulation.world import DEMO_TEMPLATE, SimulatedSource, WeightedRouter, WorldVersions
from auspice.specs import parse_template
from auspice.specs.plan import RolloutPlan, plan_from_data
from auspice.traffic.clusters import Cluster

__all__ = ["CLUSTERS", "START", "as_expected", "demo_plan", "make_repository", "remote_log",
           "run_release"]

CLUSTERS: dict[str, dict[str, str]] = {
    "staging-eu": {"env": "staging", "region": "eu"},
    "prod-eu": {"env": "prod", "region": "eu"},
    "prod-us-east": {"env": "prod", "region": "us"},
    "prod-us-west": {"env": "prod", "region": "us"},
    "prod-asia": {"env": "prod", "region": "asia"},
}
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z, so the printed times read as minutes


def demo_plan(*, repository: str, sha: str) -> RolloutPlan:
    """Three waves: staging, prod-eu, then the other prod regions two at a time."""
    steps = [{"weight": 10, "hold": "10m"}, {"weight": 50, "hold": "10m"},
             {"weight": 100, "hold": "2m"}]
    return plan_from_data({
        "apiVersion": "auspice.dev/v1alpha1", "kind": "RolloutPlan",
        "metadata": {"name": "checkout-v2"},
        "spec": {
            "service": {"namespace": "shop", "virtualService": "checkout",
                        "routes": ["primary"], "workload": "checkout",
                        "stable": {"host": "checkout", "subset": "stable"},
                        "canary": {"host": "checkout", "subset": "canary"}},
            "versions": {"canary": "v2", "baseline": "v1"},
            "release": {"repository": repository, "branch": "main", "sha": sha},
            "analyses": [{"template": "demo-error-rate"}],
            "waves": [
                {"name": "staging", "clusters": {"matchLabels": {"env": "staging"}},
                 "steps": [{"weight": 25, "hold": "10m"}, {"weight": 100, "hold": "2m"}]},
                {"name": "prod-eu", "clusters": {"matchLabels": {"env": "prod",
                                                                 "region": "eu"}},
                 "steps": steps},
                {"name": "prod-rest", "maxParallel": 2, "requireApproval": True,
                 "clusters": {"matchLabels": {"env": "prod"}}, "steps": steps},
            ],
            "options": {"bakeTime": "5m"},
        },
    }, source="demo plan")


# -- the Git repository ------------------------------------------------------------


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Release Bot", "GIT_AUTHOR_EMAIL": "bot@example",
           "GIT_COMMITTER_NAME": "Release Bot", "GIT_COMMITTER_EMAIL": "bot@example",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd)}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True, timeout=30)
    return done.stdout.strip()


def make_repository(root: Path) -> tuple[str, str]:
    """A bare remote with a deploy of v1, then the release commit of v2: (url, sha)."""
    remote, work = root / "config.git", root / "work"
    _git(root, "init", "--bare", "--initial-branch=main", str(remote))
    _git(root, "clone", "--quiet", str(remote), str(work))
    values = work / "checkout" / "values.yaml"
    values.parent.mkdir(parents=True)
    values.write_text("image:\n  tag: v1\n")
    _git(work, "add", ".")
    _git(work, "commit", "--quiet", "-m", "checkout: deploy v1")
    values.write_text("image:\n  tag: v2\n")
    _git(work, "commit", "--quiet", "-am", "checkout: release v2")
    sha = _git(work, "rev-parse", "HEAD")
    _git(work, "push", "--quiet", "origin", "main")
    return f"file://{remote}", sha


def remote_log(url: str, root: Path) -> list[str]:
    path = url.removeprefix("file://")
    return _git(root, "--git-dir", path, "log", "--format=%h %s", "main").splitlines()




# -- running -----------------------------------------------------------------------


def _world(root: Path, clock: VirtualClock, *, regressed: bool, seed: int) -> World:
    """Five clusters, Istio-shaped counts that follow the weights, the Git reverter."""
    router = WeightedRouter(CLUSTERS, clock=clock)
    versions = WorldVersions(error_rate=0.01, regressed_error_rate=0.03,
                             regressed_in={"prod-eu"} if regressed else set())
    source = SimulatedSource(router, versions, rpm=3000.0, seed=seed)
    return World(clusters=[Cluster(n, labels) for n, labels in CLUSTERS.items()],
                 router_for=lambda _plan: router, source=source,
                 templates=TemplateResolver(given={"demo-error-rate": parse_template(
                     DEMO_TEMPLATE)}),
                 reverter=GitReverter(cache_dir=root / "cache", clock=clock), clock=clock)


def _auto_approve(orchestrator: Orchestrator) -> Callable[..., None]:
    """A listener that approves every wave that asks, as the demo's operator would."""
    approvals: list[asyncio.Task[Any]] = []  # kept, so the tasks are not collected early

    def approve(rollout: str, n: int, what: str, details: Mapping[str, Any]) -> None:
        if what == "state.awaiting_approval":
            approvals.append(asyncio.ensure_future(
                orchestrator.approve(rollout, who="demo-operator")))

    return approve


#: Builds a listener (a view of the rollout) from the plan, each cluster's wave and the clock.
ViewFactory = Callable[[RolloutPlan, Mapping[str, int], VirtualClock], Listener]


async def run_release(*, regressed: bool, seed: int, root: Path,
                      view: ViewFactory | None = None) -> tuple[RolloutRecord, str]:
    """One release through the plan; returns the final record and the Git remote URL."""
    clock = VirtualClock(start=START)
    clock.count_threads()  # the state file writes in a thread: time waits for it
    url, sha = make_repository(root)
    store = await RolloutStore.open(root / "state.db")
    orchestrator = Orchestrator(store=store,
                                world=_world(root, clock, regressed=regressed, seed=seed))
    plan = demo_plan(repository=url, sha=sha)
    # The orchestrator's own choice of each cluster's wave (first matching selector), so
    # the view's plan can never disagree with the rollout it shows.
    if view is not None:
        orchestrator.listeners.append(view(plan, orchestrator.select(plan), clock))
    orchestrator.listeners.append(_auto_approve(orchestrator))
    try:
        rollout = await orchestrator.start(plan, who="demo")
        record = await orchestrator.wait(rollout)
    finally:
        await orchestrator.close()
        await store.close()
    return record, url


def as_expected(record: RolloutRecord, *, regressed: bool) -> bool:
    """The story's ending: healthy promoted; regressed failed, all weights 0, reverted."""
    if not regressed:
        return record.state is State.SUCCEEDED
    return (record.state is State.FAILED
            and record.revert is not None and record.revert.status is RevertStatus.PUSHED
            and all(row.weight == 0 for row in record.clusters))

