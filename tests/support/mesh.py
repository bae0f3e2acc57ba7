"""The end-to-end world: 5 Kubernetes API test servers, live-scraped metrics, real git.

* clusters: :class:`support.kube_api.KubeApiServer` instances named like the demo's
  clusters, each holding the sample ``checkout`` VirtualService and DestinationRule,
  reached through a kubeconfig and a labels file by the real ``kubernetes.aio`` client;
* metrics: :class:`MeshExporter` serves ``sim_requests_total`` and ``sim_errors_total``
  per cluster and version. Each scrape adds the requests of the time since the last
  one, split by the canary weight *read from that cluster's VirtualService*, with
  errors at each version's rate (the canary's is worse where it regressed). A real
  Prometheus scrapes it every second;
* git: a bare repository with the release commit (as in the demo).

:func:`build_world` assembles an orchestrator world from the files and URLs only, so
the same code runs in the test process and in the child process that the kill -9
test starts and kills.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from auspice.analysis.templates import TemplateResolver
from auspice.clock import RealClock
from auspice.metrics.prometheus import PrometheusSource
from auspice.rollouts.reverter import GitReverter
from auspice.rollouts.world import World
from auspice.specs import parse_template
from auspice.specs.plan import RolloutPlan, load_plan
from auspice.traffic.clusters import ClusterInventory
from auspice.traffic.istio import IstioRouter

CLUSTERS = {
    "staging-eu": {"env": "staging", "region": "eu"},
    "prod-eu": {"env": "prod", "region": "eu"},
    "prod-us-east": {"env": "prod", "region": "us"},
    "prod-us-west": {"env": "prod", "region": "us"},
    "prod-asia": {"env": "prod", "region": "asia"},
}

TEMPLATE = """\
apiVersion: auspice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: e2e-error-rate
spec:
  alpha: 0.05
  interval: 4s
  minDuration: 8s
  maxDuration: 10m
  metrics:
    - name: error-rate
      kind: counts
      critical: true
      tolerance: 1.5
      events: >-
        sum(increase(sim_errors_total{cluster="{{cluster}}",version="{{version}}"}[{{interval}}]))
      total: >-
        sum(increase(sim_requests_total{cluster="{{cluster}}",version="{{version}}"}[{{interval}}]))
"""

PLAN = """\
apiVersion: auspice.dev/v1alpha1
kind: RolloutPlan
metadata:
  name: checkout-v2
spec:
  service:
    namespace: shop
    virtualService: checkout
    routes: [primary]
    stable: {host: checkout, subset: stable}
    canary: {host: checkout, subset: canary}
    workload: checkout
  versions: {canary: v2, baseline: v1}
  release: {repository: "REPOSITORY", branch: main, sha: SHA}
  analyses:
    - template: e2e-error-rate
  waves:
    - name: staging
      clusters: {matchLabels: {env: staging}}
      steps: [{weight: 20, hold: HOLD}, {weight: 100, hold: 1s}]
    - name: prod-eu
      clusters: {matchLabels: {region: eu, env: prod}}
      steps: [{weight: 20, hold: HOLD}, {weight: 100, hold: 1s}]
    - name: prod-rest
      clusters: {matchLabels: {env: prod}}
      maxParallel: 2
      steps: [{weight: 20, hold: HOLD}, {weight: 100, hold: 1s}]
  options:
    undecidedTimeout: 40s
"""


def write_plan(path: Path, *, repository: str, sha: str, hold: str = "8s") -> Path:
    path.write_text(PLAN.replace("REPOSITORY", repository).replace("SHA", sha)
                    .replace("HOLD", hold))
    return path


def canary_weight(vs: dict[str, Any]) -> int:
    for route in vs["spec"]["http"]:
        if route.get("name") == "primary":
            for entry in route["route"]:
                if entry["destination"].get("subset") == "canary":
                    return int(entry.get("weight", 0))
    return 0


@dataclass
class MeshExporter:
    """Counters per (cluster, version) that grow with the weights in the clusters."""

    servers: dict[str, Any]  # cluster name -> KubeApiServer
    rps: float = 2000.0
    error_rate: float = 0.01
    regressed_error_rate: float = 0.08
    regressed_in: set[str] = field(default_factory=set)
    url: str = ""
    _counters: dict[tuple[str, str, str], float] = field(default_factory=dict)
    _last: float = 0.0
    _runner: web.AppRunner | None = None

    def _advance(self) -> None:
        from support.kube import SAMPLE_NAME, SAMPLE_NAMESPACE, ObjectKey

        now = time.time()
        elapsed = min(now - self._last, 5.0) if self._last else 0.0
        self._last = now
        for name, server in self.servers.items():
            key = ObjectKey("networking.istio.io", "virtualservices", SAMPLE_NAMESPACE,
                            SAMPLE_NAME)
            weight = canary_weight(server.get(key))
            for version, share in (("v2", weight / 100), ("v1", 1 - weight / 100)):
                requests = self.rps * elapsed * share
                rate = (self.regressed_error_rate if version == "v2" and name in
                        self.regressed_in else self.error_rate)
                for metric, amount in (("requests", requests), ("errors", requests * rate)):
                    counter = (metric, name, version)
                    self._counters[counter] = self._counters.get(counter, 0.0) + amount

    async def metrics(self, request: web.Request) -> web.Response:
        self._advance()
        lines = ["# TYPE sim_requests_total counter", "# TYPE sim_errors_total counter"]
        for (metric, cluster, version), value in sorted(self._counters.items()):
            lines.append(f'sim_{metric}_total{{cluster="{cluster}",version="{version}"}} '
                         f"{value:.3f}")
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def write_inventory(servers: list[Any], root: Path) -> tuple[Path, Path]:
    from support.kube import write_kubeconfig

    kubeconfig = write_kubeconfig(servers, root / "kubeconfig")
    labels = root / "clusters.yaml"
    labels.write_text(yaml.safe_dump({"contexts": {n: {"labels": v}
                                                   for n, v in CLUSTERS.items()}}))
    return kubeconfig, labels


@dataclass
class Built:
    world: World
    inventory: ClusterInventory
    source: PrometheusSource
    plan: RolloutPlan

    async def close(self) -> None:
        await self.source.close()
        await self.inventory.close()


def build_world(*, kubeconfig: Path, labels: Path, prometheus: str, plan_file: Path,
                cache_dir: Path) -> Built:
    inventory = ClusterInventory.from_kubeconfig(kubeconfig, labels_file=labels)
    clock = RealClock()
    source = PrometheusSource(prometheus, timeout=10)
    world = World(
        clusters=inventory.clusters,
        router_for=lambda plan: IstioRouter(inventory, plan.spec.service, clock=clock,
                                            request_timeout=5.0),
        source=source,
        templates=TemplateResolver(given={"e2e-error-rate": parse_template(TEMPLATE)}),
        reverter=GitReverter(cache_dir=cache_dir, clock=clock), clock=clock)
    return Built(world, inventory, source, load_plan(str(plan_file)))
