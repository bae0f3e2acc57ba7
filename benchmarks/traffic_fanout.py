"""How long setting weights in 50 clusters takes, and how many requests it costs.

    python -m benchmarks.traffic_fanout                 # 50 clusters, 50 ms per request
    python -m benchmarks.traffic_fanout --clusters 10   # a quick look

Writes ``benchmarks/results/traffic_fanout.json`` and ``.md``. Each cluster is a
Kubernetes API test server (tests/support/kube_api.py) that delays every request by the
injected latency, talked to by the real ``kubernetes.aio`` client through the Istio
router and the fan-out, exactly as an abort would.

Measured:

- ``ratio_to_one_cluster``: wall time of the fan-out over N clusters divided by the wall
  time of the same weight change in one cluster (its read, write and verify read).
  This is "one round trip" of a weight change; target below 2x.
- ``ratio_to_one_request``: the same wall time divided by one HTTP request's latency.
  Three sequential requests per cluster make this at least 3 by construction; it is
  shown so nobody has to guess which round trip the headline means.
- requests per cluster (target: 1 read, 1 write, 1 verify read; no more), checked on
  every cluster of every repetition.
- Extra scenarios: a few clusters with a concurrent writer (one 409 each, retried), and
  a few clusters down, to show one cluster's trouble does not slow the others.

The servers run in a child process, as remote API servers would, so the client's own
CPU cost is measured and not mixed with the servers'.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "tests"))

from support.kube_api import (  # noqa: E402 - needs the tests folder on sys.path
    SAMPLE_NAME,
    SAMPLE_NAMESPACE,
    KubeApiServer,
    kube_api_servers,
    virtual_service,
    write_kubeconfig,
)

from auspice.specs.targets import IstioTarget  # noqa: E402
from auspice.traffic.clusters import ClusterInventory  # noqa: E402
from auspice.traffic.fanout import FanoutReport, set_weights_everywhere  # noqa: E402
from auspice.traffic.istio import IstioRouter  # noqa: E402
from auspice.traffic.router import Weights  # noqa: E402

TARGET = IstioTarget.model_validate(
    {
        "namespace": SAMPLE_NAMESPACE,
        "virtualService": SAMPLE_NAME,
        "routes": ["primary"],
        "stable": {"host": "checkout", "subset": "stable"},
        "canary": {"host": "checkout", "subset": "canary"},
    }
)


# ------------------------------------------------------------------ the server process


def _serve(count: int, latency: float, kubeconfig: str, conn: Any) -> None:
    """Child process: run ``count`` servers; answer commands from the parent."""

    async def run() -> None:
        async with kube_api_servers(
            count, names=[f"spoke-{i:02d}" for i in range(count)]
        ) as servers:
            for server in servers:
                server.seed(virtual_service())
                server.faults.latency = latency
            write_kubeconfig(servers, Path(kubeconfig))
            by_name = {s.name: s for s in servers}
            conn.send("ready")
            loop = asyncio.get_running_loop()
            while True:
                command, argument = await loop.run_in_executor(None, conn.recv)
                conn.send(await _command(by_name, command, argument))
                if command == "stop":
                    return

    asyncio.run(run())


async def _command(servers: dict[str, KubeApiServer], command: str, argument: Any) -> Any:
    if command == "reset":
        for server in servers.values():
            server.requests.clear()
        return None
    if command == "requests":
        return {name: list(s.requests) for name, s in servers.items()}
    if command == "conflict":
        for name in argument:
            servers[name].concurrent_writer(virtual_service())
        return None
    if command == "down":
        for name in argument:
            await servers[name].go_down()
        return None
    if command == "up":
        for name in argument:
            await servers[name].come_back()
        return None
    return None


class Fleet:
    """The parent's handle on the server process."""

    def __init__(self, count: int, latency: float, directory: str) -> None:
        self.kubeconfig = str(Path(directory) / "kubeconfig")
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(count, latency, self.kubeconfig, child), daemon=True
        )
        self.process.start()
        if not self.conn.poll(60) or self.conn.recv() != "ready":
            raise RuntimeError("the test API servers did not start")

    async def call(self, command: str, argument: Any = None) -> Any:
        loop = asyncio.get_running_loop()
        self.conn.send((command, argument))
        return await loop.run_in_executor(None, self.conn.recv)

    def close(self) -> None:
        self.conn.send(("stop", None))
        self.process.join(10)


# ------------------------------------------------------------------------- measuring


def _verbs(requests: dict[str, list[tuple[str, str]]]) -> dict[str, list[str]]:
    return {name: [verb for verb, _ in log] for name, log in requests.items()}


async def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await action()
    return time.perf_counter() - started, result


async def measure(clusters: int, latency: float, repetitions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        fleet = Fleet(clusters, latency, directory)
        try:
            return await _measure(fleet, clusters, latency, repetitions)
        finally:
            fleet.close()


async def _measure(fleet: Fleet, clusters: int, latency: float, repetitions: int) -> dict[str, Any]:
    async with ClusterInventory.from_kubeconfig(fleet.kubeconfig) as inventory:
        names = inventory.names
        router = IstioRouter(inventory, TARGET, request_timeout=10)
        # warm up: create every client and connection once. A running service keeps its
        # clients open (and ClusterInventory.connect creates them when a rollout starts),
        # so this is not part of an abort's cost. It is large here because the test
        # servers name no CA, so every client loads the system CA store.
        cold, _ = await _timed(lambda: _fanout(router, names, Weights.canary_percent(1)))

        one_request, one_cluster, fanout = [], [], []
        exact = True
        observed: dict[str, int] = {}
        for repetition in range(repetitions):
            percent = 10 + repetition % 2 * 10
            seconds, _ = await _timed(lambda: router.get_weights(names[0]))
            one_request.append(seconds)
            seconds, _ = await _timed(
                lambda p=percent: router.set_weights(names[0], Weights.canary_percent(p))
            )
            one_cluster.append(seconds)
            await fleet.call("reset")
            seconds, report = await _timed(
                lambda p=percent: _fanout(router, names, Weights.canary_percent(p))
            )
            if not report.all_ok:
                raise RuntimeError(report.summary())
            fanout.append(seconds)
            verbs = _verbs(await fleet.call("requests"))
            for name in names[1:]:  # names[0] was just set; it answers with one read
                key = "+".join(verbs[name])
                observed[key] = observed.get(key, 0) + 1
                exact &= verbs[name] == ["GET", "PATCH", "GET"]
        extra = await _scenarios(fleet, router, names)

    median_fanout = statistics.median(fanout)
    return {
        "clusters": clusters,
        "injected_latency_s": latency,
        "repetitions": repetitions,
        "one_request_s": statistics.median(one_request),
        "one_cluster_set_s": statistics.median(one_cluster),
        "fanout_s": {"median": median_fanout, "max": max(fanout), "cold_first_run": cold},
        "ratio_to_one_cluster": median_fanout / statistics.median(one_cluster),
        "ratio_to_one_request": median_fanout / statistics.median(one_request),
        "requests_per_cluster": observed,
        "exactly_read_write_verify": exact,
        "scenarios": extra,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


async def _fanout(router: IstioRouter, names: list[str], weights: Weights) -> FanoutReport:
    return await set_weights_everywhere(router, names, weights, per_cluster_timeout=10)


async def _scenarios(fleet: Fleet, router: IstioRouter, names: list[str]) -> dict[str, Any]:
    few = names[-5:]
    results: dict[str, Any] = {}

    await fleet.call("reset")
    await fleet.call("conflict", few)
    seconds, report = await _timed(lambda: _fanout(router, names, Weights.canary_percent(30)))
    verbs = _verbs(await fleet.call("requests"))
    results["5 clusters with a concurrent writer"] = {
        "fanout_s": seconds,
        "statuses": _statuses(report),
        "requests_in_a_conflicting_cluster": "+".join(verbs[few[0]]),
    }

    await fleet.call("down", few)
    seconds, report = await _timed(lambda: _fanout(router, names, Weights.all_stable()))
    await fleet.call("up", few)
    results["5 clusters down"] = {"fanout_s": seconds, "statuses": _statuses(report)}
    return results


def _statuses(report: FanoutReport) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in report.results:
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    return counts


# --------------------------------------------------------------------------- reporting


def markdown(result: dict[str, Any]) -> str:
    fan = result["fanout_s"]
    lines = [
        f"# Weight change fan-out: {result['clusters']} clusters, "
        f"{result['injected_latency_s'] * 1000:.0f} ms injected latency per request",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| one request (median) | {result['one_request_s'] * 1000:.1f} ms | |",
        f"| one cluster: read + write + verify (median) | "
        f"{result['one_cluster_set_s'] * 1000:.1f} ms | |",
        f"| all clusters, fan-out (median / max of {result['repetitions']}) | "
        f"{fan['median'] * 1000:.1f} / {fan['max'] * 1000:.1f} ms | |",
        f"| first fan-out, creating clients and connections (see note) | "
        f"{fan['cold_first_run'] * 1000:.1f} ms | |",
        f"| **fan-out / one cluster's weight change** | "
        f"**{result['ratio_to_one_cluster']:.2f}x** | < 2x |",
        f"| fan-out / one request | {result['ratio_to_one_request']:.2f}x | (>= 3 by design) |",
        f"| requests per cluster | "
        f"{', '.join(f'{k} x{v}' for k, v in result['requests_per_cluster'].items())} | "
        "GET+PATCH+GET |",
        f"| every cluster exactly read, write, verify | "
        f"{'yes' if result['exactly_read_write_verify'] else 'NO'} | yes |",
        "",
        "| scenario | fan-out | results |",
        "|---|---|---|",
    ]
    for name, scenario in result["scenarios"].items():
        statuses = ", ".join(f"{k}: {v}" for k, v in scenario["statuses"].items())
        note = scenario.get("requests_in_a_conflicting_cluster")
        extra = f" (a conflicting cluster: {note})" if note else ""
        lines.append(f"| {name} | {scenario['fanout_s'] * 1000:.1f} ms | {statuses}{extra} |")
    lines += [
        "",
        "Note: creating a kubernetes.aio client loads CA certificates; with no CA configured "
        "(these plain-HTTP test servers) that is the system store, tens of ms per client. "
        "Real clusters name their CA. A running Auspice creates clients once "
        "(ClusterInventory.connect at rollout start), so aborts pay only the warm numbers.",
        "",
        "Servers: tests/support/kube_api.py in a child process, each delaying every "
        "request; client: kubernetes.aio through IstioRouter and set_weights_everywhere. "
        f"Python {result['python']} on {result['machine']}, 2 shared cores.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--repetitions", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only, write no results")
    args = parser.parse_args(argv)
    logging.getLogger("auspice.traffic").setLevel(logging.ERROR)  # the scenarios fail on purpose
    result = asyncio.run(measure(args.clusters, args.latency, args.repetitions))
    text = markdown(result)
    print(text)
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "traffic_fanout.json").write_text(json.dumps(result, indent=2) + "\n")
        (RESULTS / "traffic_fanout.md").write_text(text)


if __name__ == "__main__":
    main()
