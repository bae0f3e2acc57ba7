"""Abort latency over 50 slow clusters, and the cost of 100 concurrent rollouts.

    python -m benchmarks.orchestrator                  # 50 clusters at 50 ms, 100 rollouts
    python -m benchmarks.orchestrator --clusters 10 --rollouts 20   # a quick look

Writes ``benchmarks/results/orchestrator.json`` and ``.md``.

**Abort latency.** 50 Kubernetes API test servers (tests/support/kube_api.py, in a child
process as remote API servers would be, each request delayed 50 ms) hold a rollout
whose one wave has put every cluster at canary 10 % and is holding. The clock starts
when ``POST /api/v1/rollouts/{id}/abort`` is sent to the real HTTP API and stops when
its answer arrives; the answer comes after every cluster's weights were written back
to 0 and read back (the Istio router's read, write, verify), after the revert (a fake
that returns at once, so that Git's time does not hide the traffic path) and after the
outcome was recorded. Prometheus is down during the abort (the source refuses every
query): an abort must not need it. The headline is that latency divided by one round
trip (one GET to one cluster); three sequential requests per cluster make 3 the floor.

**100 concurrent rollouts.** 100 copies of the demo's three-wave plan, each over its own
five simulated clusters (500 in all; in-memory router, synthetic metrics), run at once
by one orchestrator with one SQLite state file, on the real clock with looks every 2 s
(30 times more often than the usual 1 m, so the load is an upper bound). Reported over
a window of real time: the process's CPU as a share of one core, CPU per look (each
look recomputes its analysis from the canary's start), peak RSS, and how long aborting
all 100 at once takes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "tests"))

import yaml  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from auspice.analysis.templates import TemplateResolver  # noqa: E402
from auspice.clock import RealClock  # noqa: E402
from auspice.demos.rollout import CLUSTERS, demo_plan  # noqa: E402
from auspice.errors import SourceError  # noqa: E402
from auspice.gitops import RevertOutcome, RevertReason, RevertStatus  # noqa: E402
from auspice.rollouts.orchestrator import Orchestrator  # noqa: E402
from auspice.rollouts.store import RolloutStore  # noqa: E402
from auspice.rollouts.world import World  # noqa: E402
from auspice.simulation.world import DEMO_TEMPLATE, SimulatedSource, WeightedRouter, WorldVersions  # noqa: E402
from auspice.specs import parse_template  # noqa: E402
from auspice.specs.plan import RolloutPlan, plan_from_data  # noqa: E402
from auspice.storage import Storage  # noqa: E402
from auspice.traffic.clusters import Cluster, ClusterInventory  # noqa: E402
from auspice.traffic.istio import IstioRouter  # noqa: E402
from auspice.traffic.router import Weights  # noqa: E402
from benchmarks.traffic_fanout import Fleet  # noqa: E402

OPERATOR = "operator-token-0123456789abcdef"


class InstantReverter:
    def check(self, plan: RolloutPlan) -> None:
        """Every release can be reverted here."""

    async def __call__(self, *, plan: RolloutPlan, rollout_id: str,
                       reason: RevertReason) -> RevertOutcome:
        return RevertOutcome(status=RevertStatus.PUSHED, repository="bench", branch="main",
                             release_commit=plan.spec.release.sha, revert_commit="0" * 40,
                             push_attempts=1)


class DownSource:
    server = "benchmark: down"

    async def close(self) -> None:
        """Nothing to release."""

    async def query_range(self, promql: str, start: float, end: float, step: float) -> Any:
        raise SourceError("benchmark: Prometheus is down")


def _one_wave_plan(hold: str = "1h") -> RolloutPlan:
    data = demo_plan(repository="file:///nonexistent.git", sha="0" * 40).to_data()
    data["spec"]["waves"] = [{"name": "everything", "clusters": {"matchLabels": {"env": "prod"}},
                              "steps": [{"weight": 10, "hold": hold},
                                        {"weight": 100, "hold": "1m"}]}]
    data["spec"]["service"]["routes"] = ["primary"]
    return plan_from_data(data)


# ------------------------------------------------------------------------- abort


async def _api(orchestrator: Orchestrator, store: Storage) -> TestClient:
    from auspice.analysis.templates import TemplateResolver
    from auspice.specs.serve import ServeConfig
    from auspice.specs.tokens import TokenEntry
    from auspice.webhooks.app import create_app
    from auspice.webhooks.auth import TokenAuth
    from auspice.webhooks.context import ServiceContext
    from auspice.webhooks.rollouts import api as rollouts_api

    tokens = TokenAuth([TokenEntry.model_validate({"name": "oncall", "role": "operator",
                                                   "token": OPERATOR})])
    context = ServiceContext(
        config=ServeConfig.model_validate({"prometheus": {"url": "http://127.0.0.1:9"},
                                           "auth": {"tokensFile": "/nonexistent"}}),
        source=DownSource(), store=store, templates=TemplateResolver(None), tokens=tokens,
        clock=RealClock())
    app = create_app(context)
    rollouts_api.add_routes(app, orchestrator)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def _wait_holding(orchestrator: Orchestrator, rollout: str, count: int) -> None:
    for _ in range(3000):
        record = await orchestrator.status(rollout)
        if sum(row.status == "holding" for row in record.clusters) == count:
            return
        await asyncio.sleep(0.02)
    raise RuntimeError("the clusters never all reached their hold")


async def measure_abort(clusters: int, latency: float, repetitions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        fleet = Fleet(clusters, latency, directory)
        try:
            return await _measure_abort(fleet, root, clusters, latency, repetitions)
        finally:
            fleet.close()


async def _measure_abort(fleet: Fleet, root: Path, clusters: int, latency: float,
                         repetitions: int) -> dict[str, Any]:
    names = [f"spoke-{i:02d}" for i in range(clusters)]
    labels = root / "labels.yaml"
    labels.write_text(yaml.safe_dump({"contexts": {n: {"labels": {"env": "prod"}}
                                                   for n in names}}))
    inventory = ClusterInventory.from_kubeconfig(fleet.kubeconfig, labels_file=labels)
    await inventory.connect()
    plan = _one_wave_plan()
    clock = RealClock()
    routers: list[IstioRouter] = []

    def router_for(p: RolloutPlan) -> IstioRouter:
        routers.append(IstioRouter(inventory, p.spec.service, clock=clock))
        return routers[-1]

    world = World(clusters=inventory.clusters, router_for=router_for, source=DownSource(),
                  templates=TemplateResolver(given={"demo-error-rate": parse_template(
                      DEMO_TEMPLATE)}), reverter=InstantReverter(), clock=clock)
    store = await Storage.open(root / "state.db")
    rollouts = RolloutStore(store.database)
    await rollouts.ensure()
    orchestrator = Orchestrator(store=rollouts, world=world)
    client = await _api(orchestrator, store)
    probe = IstioRouter(inventory, plan.spec.service, clock=clock)
    try:
        round_trips = []
        for _ in range(7):
            started = time.perf_counter()
            await probe.get_weights(names[0])
            round_trips.append(time.perf_counter() - started)
        runs = []
        for _ in range(repetitions):
            rollout = await orchestrator.start(plan, who="bench")
            await _wait_holding(orchestrator, rollout, clusters)
            started = time.perf_counter()
            answer = await client.post(f"/api/v1/rollouts/{rollout}/abort",
                                       json={"reason": "benchmark"},
                                       headers={"Authorization": f"Bearer {OPERATOR}"})
            body = await answer.json()
            seconds = time.perf_counter() - started
            weights = await asyncio.gather(*(probe.get_weights(n) for n in names))
            runs.append({"seconds": seconds, "status": answer.status, "state": body["state"],
                         "rollback_seconds": body["rollback"]["seconds"],
                         "all_at_zero": all(w == Weights.all_stable() for w in weights),
                         "unreachable": body["rollback"]["unreachable"]})
        one = statistics.median(round_trips)
        latencies = [r["seconds"] for r in runs]
        return {"clusters": clusters, "latency_ms": latency * 1000,
                "one_round_trip_ms": one * 1000,
                "abort_ms_median": statistics.median(latencies) * 1000,
                "abort_ms_max": max(latencies) * 1000,
                "rollback_fanout_ms_median": statistics.median(
                    r["rollback_seconds"] for r in runs) * 1000,
                "ratio_to_one_round_trip": statistics.median(latencies) / one,
                "every_run_all_at_zero": all(r["all_at_zero"] for r in runs),
                "runs": runs}
    finally:
        await client.close()
        await orchestrator.close()
        await store.close()
        await inventory.close()


# --------------------------------------------------------------- many rollouts


FAST_TEMPLATE = (DEMO_TEMPLATE.replace("interval: 1m", "interval: 2s")
                 .replace("minDuration: 5m", "minDuration: 10s"))


def _copy_plan(k: int) -> RolloutPlan:
    """The demo's plan over copy ``k``'s clusters, in seconds instead of minutes."""
    data = demo_plan(repository="file:///nonexistent.git", sha="0" * 40).to_data()
    for wave in data["spec"]["waves"]:
        wave["clusters"]["matchLabels"]["copy"] = str(k)
        for step in wave["steps"]:
            step["hold"] = step["hold"].replace("m", "0s")  # 10m -> 100s, 2m -> 20s
    data["spec"]["options"]["bakeTime"] = "5s"
    data["metadata"]["name"] = f"checkout-{k}"
    return plan_from_data(data)


async def measure_many(rollouts: int, window: float, seed: int = 1) -> dict[str, Any]:
    """``rollouts`` at once on the real clock; CPU and memory over ``window`` seconds."""
    clock = RealClock()
    names = {f"{name}-{k}": {**labels, "copy": str(k)}
             for k in range(rollouts) for name, labels in CLUSTERS.items()}
    router = WeightedRouter(names, clock=clock)
    source = SimulatedSource(router, WorldVersions(), seed=seed)
    world = World(clusters=[Cluster(n, labels) for n, labels in names.items()],
                  router_for=lambda _plan: router, source=source,
                  templates=TemplateResolver(given={"demo-error-rate": parse_template(
                      FAST_TEMPLATE)}), reverter=InstantReverter(), clock=clock)
    with tempfile.TemporaryDirectory() as directory:
        store = await RolloutStore.open(Path(directory) / "state.db")
        orchestrator = Orchestrator(store=store, world=world)
        counts = {"look": 0, "entries": 0}

        def listen(rollout: str, n: int, what: str, details: Mapping[str, Any]) -> None:
            counts["entries"] += 1
            counts["look"] += what == "look"

        orchestrator.listeners.append(listen)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ids = [await orchestrator.start(_copy_plan(k), who="bench") for k in range(rollouts)]
        await asyncio.sleep(min(10.0, window / 4))  # past the start-up burst
        looks_before, entries_before = counts["look"], counts["entries"]
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(window)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        looks, entries = counts["look"] - looks_before, counts["entries"] - entries_before
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        active = [r for r in await asyncio.gather(*(orchestrator.status(i) for i in ids))
                  if not r.state.final]
        started = time.perf_counter()
        reports = await asyncio.gather(*(orchestrator.abort(i, who="bench", reason="done")
                                         for i in ids))
        abort_all = time.perf_counter() - started
        await orchestrator.close()
        await store.close()
    return {"rollouts": rollouts, "clusters": len(names), "window_seconds": wall,
            "active_during_window": len(active), "looks": looks, "audit_entries": entries,
            "looks_per_second": looks / wall, "cpu_seconds": cpu,
            "core_share_percent": 100 * cpu / wall,
            "cpu_ms_per_look": 1000 * cpu / max(looks, 1),
            "peak_rss_mb": rss_after / 1024, "rss_growth_mb": (rss_after - rss_before) / 1024,
            "abort_all_seconds": abort_all,
            "aborted": sum(r.state == "aborted" for r in reports)}


# ----------------------------------------------------------------------- report


def markdown(result: dict[str, Any]) -> str:
    a, m = result["abort"], result["many"]
    return "\n".join([
        f"# Orchestrator: abort over {a['clusters']} clusters at {a['latency_ms']:.0f} ms, "
        f"and {m['rollouts']} concurrent rollouts",
        "",
        "| abort measure | value |",
        "|---|---|",
        f"| one round trip (one GET to one cluster, median) | {a['one_round_trip_ms']:.1f} ms |",
        f"| abort API call to every cluster at 0 (median / max of {len(a['runs'])}) | "
        f"{a['abort_ms_median']:.1f} / {a['abort_ms_max']:.1f} ms |",
        f"| of which the rollback fan-out (median) | {a['rollback_fanout_ms_median']:.1f} ms |",
        f"| **abort / one round trip** | **{a['ratio_to_one_round_trip']:.2f}x** "
        "(>= 3 by design: read, write, verify) |",
        f"| every cluster at canary 0 after every abort | "
        f"{'yes' if a['every_run_all_at_zero'] else 'NO'} |",
        "",
        f"| {m['rollouts']} concurrent rollouts, real clock, "
        f"{m['window_seconds']:.0f} s window | value |",
        "|---|---|",
        f"| clusters / rollouts still active at the end of the window | {m['clusters']} / "
        f"{m['active_during_window']} |",
        f"| looks / audit entries in the window | {m['looks']} ({m['looks_per_second']:.0f}/s)"
        f" / {m['audit_entries']} |",
        f"| **CPU (share of one core)** | **{m['core_share_percent']:.1f} %** "
        f"({m['cpu_seconds']:.1f} s) |",
        f"| CPU per look (queries over the whole canary, judge, audit entry) | "
        f"{m['cpu_ms_per_look']:.2f} ms |",
        f"| **peak RSS** (growth during the run) | **{m['peak_rss_mb']:.0f} MB** "
        f"(+{m['rss_growth_mb']:.0f} MB) |",
        f"| aborting all {m['rollouts']} at once | {m['abort_all_seconds']:.2f} s "
        f"({m['aborted']} aborted) |",
        "",
        f"Machine: {result['machine']}. The abort's revert is a fake that returns at once "
        "(see benchmarks/gitops_revert for Git's own time); Prometheus is down during it.",
        "",
    ])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--rollouts", type=int, default=100)
    parser.add_argument("--window", type=float, default=60.0,
                        help="seconds of real time over which CPU is measured")
    args = parser.parse_args(argv)
    abort = asyncio.run(measure_abort(args.clusters, args.latency, args.repetitions))
    many = asyncio.run(measure_many(args.rollouts, args.window))
    result = {"abort": abort, "many": many,
              "machine": f"{platform.processor() or platform.machine()}, "
                         f"Python {platform.python_version()}"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "orchestrator.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "orchestrator.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
