"""A simulated world for orchestrator tests: five labelled clusters, a weighted router,
synthetic metrics that follow the weights, a fake reverter that counts its pushes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auspice.analysis.templates import TemplateResolver
from auspice.clock import VirtualClock
from auspice.gitops import PushRejected, RevertOutcome, RevertReason, RevertStatus
from auspice.rollouts.finish import FinishSettings
from auspice.rollouts.orchestrator import Orchestrator, Settings
from auspice.rollouts.steps import ClusterSettings
from auspice.rollouts.store import RolloutStore
from auspice.rollouts.world import World
from auspice.simulation.world import DEMO_TEMPLATE, SimulatedSource, WeightedRouter, WorldVersions
from auspice.specs import parse_template
from auspice.specs.plan import RolloutPlan, load_plan, plan_from_data
from auspice.traffic.clusters import Cluster
from support.data import THREE_WAVES_PLAN

CLUSTERS = {
    "staging-eu": {"env": "staging", "region": "eu"},
    "prod-eu": {"env": "prod", "region": "eu"},
    "prod-us-east": {"env": "prod", "region": "us"},
    "prod-us-west": {"env": "prod", "region": "us"},
    "prod-asia": {"env": "prod", "region": "asia"},
}


@dataclass
class FakeReverter:
    """Counts pushes; refuses the first ``reject`` calls like a pre-receive hook."""

    reject: int = 0
    calls: int = 0
    pushes: int = 0
    reasons: list[RevertReason] = field(default_factory=list)

    def check(self, plan: RolloutPlan) -> None:
        """Every release can be reverted here."""

    async def __call__(self, *, plan: RolloutPlan, rollout_id: str,
                       reason: RevertReason) -> RevertOutcome:
        self.calls += 1
        self.reasons.append(reason)
        if self.calls <= self.reject:
            raise PushRejected("pre-receive hook declined", reason="hook", attempts=1)
        status = RevertStatus.PUSHED if self.pushes == 0 else RevertStatus.ALREADY_REVERTED
        self.pushes += status is RevertStatus.PUSHED
        return RevertOutcome(status=status, repository="fake", branch="main",
                             release_commit=plan.spec.release.sha, revert_commit="f" * 40,
                             push_attempts=1)


def plan(**options: Any) -> RolloutPlan:
    base = load_plan(str(THREE_WAVES_PLAN))
    data = base.to_data()
    data["spec"]["options"].update(options)
    return plan_from_data(data)


@dataclass
class SimWorld:
    clock: VirtualClock
    router: WeightedRouter
    source: SimulatedSource
    reverter: FakeReverter
    world: World


def sim_world(*, regressed_in: set[str] | None = None, reject: int = 0,
              seed: int = 1) -> SimWorld:
    clock = VirtualClock(start=1_700_000_000.0)
    router = WeightedRouter(CLUSTERS, clock=clock)
    source = SimulatedSource(router, WorldVersions(regressed_in=regressed_in or set()),
                             seed=seed)
    reverter = FakeReverter(reject=reject)
    templates = TemplateResolver(given={"demo": parse_template(DEMO_TEMPLATE)})
    world = World(clusters=[Cluster(n, labels) for n, labels in CLUSTERS.items()],
                  router_for=lambda _plan: router, source=source, templates=templates,
                  reverter=reverter, clock=clock)
    return SimWorld(clock, router, source, reverter, world)


FAST = Settings(cluster=ClusterSettings(write_patience=60.0, retry_backoff=5.0),
                finish=FinishSettings(revert_backoff=1.0, retry_backoff=10.0))


async def orchestrator(sim: SimWorld, path: Path) -> Orchestrator:
    store = await RolloutStore.open(path)
    return Orchestrator(store=store, world=sim.world, settings=FAST)


class Driver:
    """Runs one rollout with a listener that approves waves and fires test hooks."""

    def __init__(self, orch: Orchestrator) -> None:
        import asyncio

        self.orch = orch
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.hooks: list[tuple[Any, asyncio.Event]] = []
        self.tasks: list[asyncio.Task[Any]] = []
        orch.listeners.append(self._listen)

    def when(self, predicate: Any) -> Any:
        import asyncio

        event = asyncio.Event()
        self.hooks.append((predicate, event))
        return event

    def _listen(self, rollout: str, n: int, what: str, details: Any) -> None:
        import asyncio

        self.seen.append((what, dict(details)))
        if what == "state.awaiting_approval":
            self.tasks.append(asyncio.ensure_future(self.orch.approve(rollout, who="bob")))
        for predicate, event in self.hooks:
            if not event.is_set() and predicate(what, details):
                event.set()


async def events(orch: Orchestrator, rollout: str) -> list[Any]:
    return await orch.store.events(rollout)
