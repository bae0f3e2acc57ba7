"""The rollouts part of ``auspice serve``: clusters, hub and git from the configuration,
assembled into an :class:`~auspice.orchestrator.Orchestrator` on the service's own store.

A service configured with ``rollouts:`` drives RolloutPlans; one without it only judges
(the rollouts API then answers 503 and says why). What can be checked without
talking to the spokes is checked before the service listens: a kubeconfig that does not
parse, a labels file naming an unknown context, an Argo CD Secret that is malformed, an
inventory without clusters, two git credentials at once each stop the start with their
message. Spoke credentials are used when a rollout first touches a cluster, and a
plan's repository is checked against the git settings when the plan starts. The
orchestrator shares the judgement webhook's metrics source
(and its cache) and template resolver, and keeps its tables in the same SQLite file, so
a restart of the process resumes every rollout from that file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes.aio.client import ApiClient

from auspice.analysis.templates import TemplateResolver
from auspice.clock import Clock
from auspice.errors import ConfigError
from auspice.gitops import HttpsTokenAuth, SshKeyAuth
from auspice.metrics.source import MetricsSource
from auspice.rollouts.orchestrator import Orchestrator
from auspice.rollouts.reverter import GitReverter
from auspice.rollouts.store import RolloutStore
from auspice.rollouts.world import World
from auspice.specs.plan import RolloutPlan
from auspice.specs.serve import (
    ClustersConfig,
    GitConfig,
    HubConfig,
    RolloutsConfig,
    clusters_findings,
    git_findings,
    hub_findings,
    refuse,
)
from auspice.storage import Database
from auspice.traffic.clusters import ClusterInventory
from auspice.traffic.istio import IstioRouter

__all__ = ["RolloutService", "build_rollouts", "repo_options"]

IN_CLUSTER_HUB = "hub"


@dataclass
class RolloutService:
    """The orchestrator and the cluster connections it holds (closed on shutdown)."""

    orchestrator: Orchestrator
    inventory: ClusterInventory
    hub: Hub | None

    async def close(self) -> None:
        """Drivers first (a no-op after the app's shutdown stopped them), then clients."""
        await self.orchestrator.close()
        await self.inventory.close()
        if self.hub is not None:
            await self.hub.inventory.close()


async def build_rollouts(config: RolloutsConfig, *, database: Database, source: MetricsSource,
                         templates: TemplateResolver, clock: Clock) -> RolloutService:
    """The orchestrator for ``config``, its tables added to ``database`` if they are new."""
    git = repo_options(config.git)  # before anything is opened that would need closing
    hub = _hub(config.hub, needed=config.clusters.argocd is not None)
    try:
        inventory = await _inventory(config.clusters, hub,
                                     request_timeout=config.request_timeout)
        rollouts = RolloutStore(database)
        await rollouts.ensure()
    except BaseException:
        if hub is not None:
            await hub.inventory.close()
        raise

    def router_for(plan: RolloutPlan) -> IstioRouter:
        return IstioRouter(inventory, plan.spec.service, clock=clock,
                           request_timeout=config.request_timeout)

    reverter = GitReverter(cache_dir=config.git.cache_dir, clock=clock,
                           repo_options=git,
                           max_push_attempts=config.git.max_push_attempts,
                           hub_client=hub.client if hub is not None else None)
    world = World(clusters=inventory.clusters, router_for=router_for, source=source,
                  templates=templates, reverter=reverter, clock=clock)
    return RolloutService(Orchestrator(store=rollouts, world=world), inventory, hub)


def repo_options(git: GitConfig) -> dict[str, Any]:
    """The :class:`~auspice.gitops.RepoSpec` fields every plan's repository is opened with."""
    refuse(git_findings(git))
    auth: SshKeyAuth | HttpsTokenAuth | None = None
    if git.ssh_key_file is not None:
        auth = SshKeyAuth(key_file=git.ssh_key_file, known_hosts_file=git.known_hosts_file,
                          accept_new_host_keys=git.accept_new_host_keys)
    elif git.token_file is not None or git.token_env is not None:
        try:
            auth = HttpsTokenAuth(token_file=git.token_file, token_env=git.token_env,
                                  username=git.username)
        except ValueError as error:  # pydantic's message names the field
            raise ConfigError(f"rollouts.git: {error}") from None
    return {"auth": auth, "author_name": git.author_name, "author_email": git.author_email,
            "timeout_seconds": git.timeout}


@dataclass
class Hub:
    """The hub cluster: an inventory holding it, and its name there."""

    inventory: ClusterInventory
    name: str

    async def client(self) -> ApiClient:
        return await self.inventory.api_client(self.name)


def _hub(config: HubConfig | None, *, needed: bool) -> Hub | None:
    """The hub (a kubeconfig context, else in-cluster) when configured or needed."""
    if config is None and not needed:
        return None
    refuse(hub_findings(config))
    if config is None or config.kubeconfig is None or config.context is None:
        return Hub(ClusterInventory.in_cluster(name=IN_CLUSTER_HUB), IN_CLUSTER_HUB)
    inventory = ClusterInventory.from_kubeconfig(config.kubeconfig)
    if config.context not in inventory:
        raise ConfigError(f"rollouts.hub.context {config.context!r} is not a context of "
                          f"{config.kubeconfig}",
                          hint=f"its contexts: {', '.join(inventory.names) or 'none'}")
    return Hub(inventory, config.context)


async def _inventory(clusters: ClustersConfig, hub: Hub | None, *,
                     request_timeout: float) -> ClusterInventory:
    refuse(clusters_findings(clusters))
    parts: list[ClusterInventory] = []
    if clusters.kubeconfig is not None:
        parts.append(ClusterInventory.from_kubeconfig(clusters.kubeconfig,
                                                      labels_file=clusters.labels_file))
    if clusters.argocd is not None and hub is not None:
        parts.append(await ClusterInventory.from_argocd_secrets(
            await hub.client(), namespace=clusters.argocd.namespace, hub_name=hub.name,
            request_timeout=request_timeout))
    if clusters.in_cluster is not None:
        parts.append(ClusterInventory.in_cluster(name=clusters.in_cluster.name,
                                                 labels=clusters.in_cluster.labels))
    inventory = ClusterInventory.combine(*parts)
    if len(inventory) == 0:
        raise ConfigError("rollouts.clusters gives no cluster to roll out to",
                          hint="set kubeconfig (+ labelsFile), argocd or inCluster")
    return inventory
