"""End to end: 5 Kubernetes API test servers, real Prometheus scraping metrics that follow
the weights in those servers, a real bare Git repository, real time.

Slow by nature (each rollout holds for real seconds); the holds are short (8 s at 20 %,
looks every 4 s) so the whole file stays around two minutes.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from support.integration import require_binary
from support.kube import (
    SAMPLE_NAME,
    SAMPLE_NAMESPACE,
    KubeApiServer,
    ObjectKey,
    destination_rule,
    kube_api_servers,
    virtual_service,
)
from support.mesh import (
    CLUSTERS,
    TEMPLATE,
    MeshExporter,
    build_world,
    canary_weight,
    write_inventory,
    write_plan,
)
from support.prometheus import free_port, start_prometheus

from auspice.demos.rollout import make_repository, remote_log
from auspice.rollouts.finish import FinishSettings
from auspice.rollouts.orchestrator import Orchestrator, Settings
from auspice.rollouts.states import State
from auspice.rollouts.store import RolloutStore

VS = ObjectKey("networking.istio.io", "virtualservices", SAMPLE_NAMESPACE, SAMPLE_NAME)
HERE = Path(__file__).parent


@dataclass
class Mesh:
    root: Path
    servers: dict[str, KubeApiServer]
    exporter: MeshExporter
    prometheus: str
    kubeconfig: Path
    labels: Path
    repository: str
    sha: str

    def weights(self) -> dict[str, int]:
        return {n: canary_weight(s.get(VS)) for n, s in self.servers.items()}

    def plan_file(self, hold: str = "8s") -> Path:
        return write_plan(self.root / "plan.yaml", repository=self.repository, sha=self.sha,
                          hold=hold)

    async def orchestrator(self, settings: Settings | None = None) -> tuple[Orchestrator, Any]:
        built = build_world(kubeconfig=self.kubeconfig, labels=self.labels,
                            prometheus=self.prometheus, plan_file=self.plan_file(),
                            cache_dir=self.root / "cache")
        store = await RolloutStore.open(self.root / "state.db")
        return Orchestrator(store=store, world=built.world, settings=settings), built

    def reject_pushes(self, times: int) -> None:
        """A pre-receive hook on the remote that refuses the next ``times`` pushes."""
        hook = Path(self.repository.removeprefix("file://")) / "hooks" / "pre-receive"
        hook.write_text("#!/bin/sh\n"
                        'n=$(cat rejections 2>/dev/null || echo 0)\n'
                        f'if [ "$n" -lt {times} ]; then echo $((n+1)) > rejections; '
                        'echo "policy: pushes paused" >&2; exit 1; fi\n')
        hook.chmod(0o755)

    def reverts(self) -> list[str]:
        return [line for line in remote_log(self.repository, self.root)
                if line.split(" ", 1)[1].startswith("Revert")]


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    binary = require_binary("prometheus")
    root = Path(tempfile.mkdtemp(prefix="auspice-e2e-"))
    async with kube_api_servers(len(CLUSTERS), names=list(CLUSTERS)) as started:
        servers = dict(zip(CLUSTERS, started, strict=True))
        for server in started:
            server.seed(virtual_service(extra_routes=False))
            server.seed(destination_rule())
        exporter = MeshExporter(servers)
        await exporter.start()
        scrape = {"job_name": "mesh", "scrape_interval": "1s", "scrape_timeout": "1s",
                  "static_configs": [{"targets": [exporter.url]}]}
        prometheus = await asyncio.to_thread(start_prometheus, root / "data",
                                             scrape_configs=[scrape], binary=binary)
        kubeconfig, labels = write_inventory(started, root)
        repository, sha = await asyncio.to_thread(make_repository, root)
        try:
            yield Mesh(root, servers, exporter, prometheus.url, kubeconfig, labels,
                       repository, sha)
        finally:
            await asyncio.to_thread(prometheus.stop)
            await exporter.stop()
            shutil.rmtree(root, ignore_errors=True)


async def run(mesh: Mesh, settings: Settings | None = None
              ) -> tuple[Any, Orchestrator, Any]:
    orch, built = await mesh.orchestrator(settings)
    rollout = await orch.start(built.plan, who="e2e")
    return rollout, orch, built


async def test_healthy_plan_promotes_through_three_waves(mesh: Mesh) -> None:
    rollout, orch, built = await run(mesh)
    try:
        record = await asyncio.wait_for(orch.wait(rollout), 180)
    finally:
        await built.close()
    assert record.state is State.SUCCEEDED, record.outcome
    assert mesh.weights() == dict.fromkeys(CLUSTERS, 100)
    assert mesh.reverts() == []
    looks = [e for e in await orch.store.events(rollout) if e.what == "look"]
    assert {e.details["cluster"] for e in looks} == set(CLUSTERS)
    assert all(e.details["verdict"] in ("continue", "pass", "nodata") for e in looks)


async def test_regressed_plan_fails_in_wave_two_and_reverts_once(mesh: Mesh) -> None:
    """Also the fault "a push rejected twice": the third attempt pushes the one revert."""
    mesh.exporter.regressed_in = {"prod-eu"}
    mesh.reject_pushes(2)
    rollout, orch, built = await run(mesh, Settings(finish=FinishSettings(revert_backoff=0.2)))
    try:
        record = await asyncio.wait_for(orch.wait(rollout), 180)
    finally:
        await built.close()
    assert record.state is State.FAILED
    assert (record.outcome.wave, record.outcome.failed_cluster) == (1, "prod-eu")
    assert mesh.weights() == dict.fromkeys(CLUSTERS, 0)
    assert sorted(record.touched) == ["prod-eu", "staging-eu"]
    untouched = [mesh.servers[c].count("PATCH") for c in
                 ("prod-us-east", "prod-us-west", "prod-asia")]
    assert untouched == [0, 0, 0]
    assert len(mesh.reverts()) == 1
    assert record.revert.status.value == "pushed"
    events = await orch.store.events(rollout)
    failures = [e for e in events if e.what == "revert.attempt_failed"]
    assert [(e.details["attempt"], e.details["type"]) for e in failures] == [
        (1, "PushRejected"), (2, "PushRejected")]
    assert "pushes paused" in failures[0].details["error"]


async def test_abort_in_the_middle_of_a_hold_rolls_back_everywhere(mesh: Mesh) -> None:
    rollout, orch, built = await run(mesh)
    try:
        for _ in range(600):
            record = await orch.status(rollout)
            row = record.cluster("prod-eu")
            if row is not None and row.status == "holding":
                break
            await asyncio.sleep(0.1)
        assert mesh.weights()["prod-eu"] == 20
        report = await asyncio.wait_for(orch.abort(rollout, who="oncall",
                                                   reason="e2e abort"), 60)
        again = await asyncio.wait_for(orch.abort(rollout, who="oncall", reason="again"), 60)
    finally:
        await built.close()
    assert report.state == "aborted"
    assert {c.cluster for c in report.rollback.clusters} == {"staging-eu", "prod-eu"}
    assert mesh.weights() == dict.fromkeys(CLUSTERS, 0)
    assert len(mesh.reverts()) == 1 and again.already


async def test_409_storm_and_an_unreachable_cluster_are_retried_through(mesh: Mesh) -> None:
    """A 409 storm on prod-eu's VirtualService, and prod-us-east down when its step starts:
    both writes are retried (audited as weights.write_failed) and the rollout promotes."""
    mesh.servers["prod-eu"].concurrent_writer(VS, times=8)  # more than one write's retries
    await mesh.servers["prod-us-east"].go_down()
    rollout, orch, built = await run(mesh)
    try:
        for _ in range(1800):
            events = await orch.store.events(rollout)
            if any(e.what == "weights.write_failed" and e.details["cluster"] == "prod-us-east"
                   for e in events):
                break
            await asyncio.sleep(0.1)
        await mesh.servers["prod-us-east"].come_back()
        record = await asyncio.wait_for(orch.wait(rollout), 180)
    finally:
        await built.close()
    assert record.state is State.SUCCEEDED
    events = await orch.store.events(rollout)
    failed = {e.details["cluster"] for e in events if e.what == "weights.write_failed"}
    assert failed == {"prod-eu", "prod-us-east"}
    assert mesh.weights() == dict.fromkeys(CLUSTERS, 100)


OPERATOR = {"Authorization": "Bearer operator-token-0123456789abcdef"}


def serve_config(mesh: Mesh, port: int) -> Path:
    """``auspice serve`` driving rollouts in the mesh: its clusters, Prometheus, git."""
    templates = mesh.root / "templates"
    templates.mkdir(exist_ok=True)
    (templates / "e2e.yaml").write_text(TEMPLATE)
    tokens = mesh.root / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"tokens": [
        {"name": "oncall", "role": "operator", "token": OPERATOR["Authorization"][7:]}]}))
    config = {
        "listen": {"host": "127.0.0.1", "port": port},
        "prometheus": {"url": mesh.prometheus, "timeout": "10s"},
        "store": {"path": str(mesh.root / "serve-state.db")},
        "templates": {"directory": str(templates)},
        "auth": {"tokensFile": str(tokens)},
        "rollouts": {"clusters": {"kubeconfig": str(mesh.kubeconfig),
                                  "labelsFile": str(mesh.labels)},
                     "git": {"cacheDir": str(mesh.root / "cache")},
                     "requestTimeout": "5s"},
    }
    path = mesh.root / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def launch(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen([sys.executable, "-m", "auspice", "serve", "--config",
                                 str(config)], stdout=sink, stderr=subprocess.STDOUT)


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def start_serving(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``python -m auspice serve`` as a real process, once /healthz answers."""
    process = launch(config, log)
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            assert process.poll() is None, tail(log)
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    if answer.status == 200:
                        return process
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError(f"auspice serve did not come up:\n{tail(log)}")


async def api(port: int, method: str, path: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession(headers=OPERATOR) as http, http.request(
            method, f"http://127.0.0.1:{port}/api/v1{path}", json=body) as answer:
        data = await answer.json()
        assert answer.status < 300, data
        return data


async def test_kill_9_of_auspice_serve_mid_hold_then_restart_resumes_with_the_remaining_hold(
        mesh: Mesh) -> None:
    """The service process itself: started by the API, killed mid-hold, started again."""
    port, log = free_port(), mesh.root / "serve.log"
    config = serve_config(mesh, port)
    first = await start_serving(config, port, log)
    second = None
    try:
        plan = mesh.plan_file("12s").read_text()
        rollout = (await api(port, "POST", "/rollouts", {"planYaml": plan}))["id"]
        for _ in range(900):
            row = next((c for c in (await api(port, "GET", f"/rollouts/{rollout}"))["clusters"]
                        if c["cluster"] == "prod-eu"), None)
            if row is not None and row["status"] == "holding" and row["step"] == 0:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # well inside the 12 s hold
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait)
        store = await RolloutStore.open(mesh.root / "serve-state.db")
        killed_at = await store.get(rollout)
        await asyncio.sleep(2)
        second = await start_serving(config, port, log)  # resumes on start, nothing else
        for _ in range(2400):
            record = await store.get(rollout)
            if record is not None and record.state.final:
                break
            await asyncio.sleep(0.1)
        events = await store.events(rollout)
        await store.close()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                await asyncio.to_thread(process.wait)
    assert killed_at is not None and killed_at.state is State.RUNNING
    assert record is not None and record.state is State.SUCCEEDED, tail(log)
    assert [e.n for e in events] == list(range(1, len(events) + 1))
    assert [e.what for e in events].count("rollout.resumed") == 1
    sets = [e for e in events if e.what == "weights.set" and e.details["cluster"] == "prod-eu"]
    assert [e.details["step"] for e in sets] == [0, 1]
    resumed = next(e for e in events if e.what == "step.resumed")
    assert (resumed.details["cluster"], resumed.details["step"]) == ("prod-eu", 0)
    # The hold goes on from the recorded start of step 0, not from zero: what the resumed
    # driver says it held is exactly the time since the weights were set (both on the
    # service's clock), at least the 3 s this test waited before the kill, and what it
    # says remains is the rest of the 12 s. These are facts about state, not timings, so
    # a loaded machine (a slow restart) cannot make them false.
    held = resumed.details["held_seconds"]
    assert held == pytest.approx(resumed.at - sets[0].at, abs=0.05)
    assert held >= 3
    assert resumed.details["remaining_seconds"] == pytest.approx(max(0.0, 12 - held), abs=0.01)
    assert resumed.details["live"] == "canary=20 stable=80"
    step1 = next(e for e in events if e.what == "step.intent"
                 and e.details["cluster"] == "prod-eu" and e.details["step"] == 1)
    assert step1.at - sets[0].at >= 12  # not early, although the service was down
    # From zero would take the whole 12 s after the resume; the rest of the hold is
    # 12 - held, and held already includes however long the restart took.
    assert resumed.at <= step1.at < resumed.at + 12
    assert mesh.weights() == dict.fromkeys(CLUSTERS, 100)
    assert mesh.reverts() == []
