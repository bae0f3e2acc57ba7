"""Each chart Role grants exactly what the code sends, found by running that code against
the Kubernetes API test server and reading back its requests (support.rbac):

- the spoke Role: every request IstioRouter makes for a rollout step, a read, a rollback
  and the preflight check;
- the hub's cluster-Secrets Role: what ClusterInventory.from_argocd_secrets lists, in the
  namespace the rendered serve configuration names;
- the hub's nudge Role: what nudge_controllers patches after a revert.

"Exactly": every request is allowed, and every verb granted was used (a Role wider than
the code, or code that grew a verb the Role lacks, fails here).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from kubernetes.aio.client import ApiClient
from support.chart_values import HUB
from support.helm import REPO, kubectl_object, render
from support.kube import (
    SAMPLE_NAME,
    SAMPLE_NAMESPACE,
    destination_rule,
    kube_api_servers,
    secret,
    virtual_service,
    weights_in,
    write_kubeconfig,
)
from support.rbac import Access, accesses, refused, unused
from support.thanos_fake import self_signed_certificate

from auspice.clock import RealClock
from auspice.gitops.nudge import ControllerNudge, nudge_controllers
from auspice.specs.targets import IstioTarget, NudgeTarget
from auspice.traffic.clusters import ClusterInventory
from auspice.traffic.istio import IstioRouter
from auspice.traffic.router import Weights

TARGET = {
    "namespace": SAMPLE_NAMESPACE, "virtualService": SAMPLE_NAME, "routes": ["primary"],
    "stable": {"host": "checkout", "subset": "stable"},
    "canary": {"host": "checkout", "subset": "canary"},
}


def assert_exact(role: dict, used: set[Access]) -> None:
    missing, wider = refused([role], used), unused([role], used)
    assert not missing, f"the Role does not allow what the code sends: {missing}"
    assert not wider, f"the Role grants what the code never sends: {wider}"


async def test_the_spoke_role_grants_exactly_what_the_istio_router_sends(tmp_path: Path) -> None:
    values = {"targets": [{"namespace": SAMPLE_NAMESPACE, "virtualServices": [SAMPLE_NAME]}]}
    rendered = render("auspice-spoke", values, release="auspice-spoke")
    [role] = rendered.of_kind("Role")
    async with kube_api_servers(1, names=["prod-eu-1"]) as [server]:
        server.seed(virtual_service())
        server.seed(destination_rule())
        kubeconfig = write_kubeconfig([server], tmp_path / "kubeconfig")
        async with ClusterInventory.from_kubeconfig(kubeconfig) as inventory:
            router = IstioRouter(inventory, IstioTarget.model_validate(TARGET))
            await router.preflight("prod-eu-1")                        # rollout start
            await router.set_weights("prod-eu-1", Weights.canary_percent(10))   # a step
            assert await router.get_weights("prod-eu-1") == Weights.canary_percent(10)
            await router.set_weights("prod-eu-1", Weights.all_stable(), force=True)  # rollback
        assert weights_in(server) == (100, 0)
        used = accesses(server.requests)
    assert {a.verb for a in used} == {"get", "patch", "list"}
    assert_exact(role, used)


async def test_the_hub_lists_cluster_secrets_where_its_role_allows() -> None:
    rendered = render("auspice", HUB["rollouts-argocd"])
    namespace = rendered.serve_config()["rollouts"]["clusters"]["argocd"]["namespace"]
    [role] = [r for r in rendered.of_kind("Role")
              if r["metadata"]["name"].endswith("cluster-secrets")]
    assert role["metadata"]["namespace"] == namespace == "argocd"
    cluster_secret = secret(
        "cluster-prod-eu-1", namespace,
        {"name": "prod-eu-1", "server": "https://prod-eu-1.example.com:6443",
         "config": json.dumps({"bearerToken": "token-of-the-auspice-spoke-account"})},
        labels={"argocd.argoproj.io/secret-type": "cluster", "env": "prod"})
    async with kube_api_servers(1, names=["hub"]) as [hub]:
        hub.seed(cluster_secret)
        async with ApiClient(hub.configuration()) as client:
            inventory = await ClusterInventory.from_argocd_secrets(client, namespace=namespace)
        await inventory.close()
        used = accesses(hub.requests)
    assert inventory.names == ["prod-eu-1"]
    assert used == {Access("", "secrets", "list", namespace)}
    assert_exact(role, used)


async def test_the_hub_patches_only_the_objects_its_nudge_role_names() -> None:
    rendered = render("auspice", HUB["rollouts-everything"])
    [role] = [r for r in rendered.of_kind("Role") if r["metadata"]["name"].endswith("nudge-0")]
    [wanted] = HUB["rollouts-everything"]["rollouts"]["nudge"]
    application = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                   "metadata": {"name": wanted["names"][0], "namespace": wanted["namespace"]},
                   "spec": {}}
    async with kube_api_servers(1, names=["hub"]) as [hub]:
        hub.seed(application, validate=False)
        async with ApiClient(hub.configuration()) as client:
            target = NudgeTarget.model_validate({"kind": "Application", "name": "shop",
                                                 "namespace": "argocd"})
            done = await nudge_controllers(ControllerNudge(client, [target]), clock=RealClock())
        used = accesses(hub.requests)
    assert done == ["Application argocd/shop"]
    assert_exact(role, used)


async def test_a_spoke_registered_as_the_docs_say_is_shifted_within_its_role(
        tmp_path: Path) -> None:
    """docs/deploy.md steps 3 and 4: the spoke chart's Role, and the cluster Secret made
    with kubectl from the spoke's token; the hub finds the spoke with its labels, and a
    rollout step there stays inside the Role."""
    steps = (REPO / "docs" / "deploy.md").read_text()
    for words in ("argocd.argoproj.io/secret-type=cluster", '\\"bearerToken\\"',
                  "--set 'targets[0].namespace=shop'"):
        assert words in steps, words
    rendered = render("auspice-spoke", {"targets": [{"namespace": SAMPLE_NAMESPACE,
                                                     "virtualServices": [SAMPLE_NAME]}]},
                      release="auspice-spoke")
    [role] = rendered.of_kind("Role")
    namespace = render("auspice", HUB["rollouts-api"]).serve_config()["rollouts"]["clusters"][
        "argocd"]["namespace"]
    ca = base64.b64encode(self_signed_certificate(tmp_path).cert.read_bytes()).decode()
    async with kube_api_servers(2, names=["hub", "spoke-1"]) as (hub, spoke):
        spoke.seed(virtual_service())
        spoke.seed(destination_rule())
        config = json.dumps({"bearerToken": spoke.token, "tlsClientConfig": {"caData": ca}})
        made = kubectl_object("-n", namespace, "create", "secret", "generic", "cluster-spoke-1",
                              "--from-literal=name=spoke-1", f"--from-literal=server={spoke.url}",
                              f"--from-literal=config={config}", "--dry-run=client")
        labelled = kubectl_object("label", "--local", "-f", "-",
                                  "argocd.argoproj.io/secret-type=cluster", "env=prod",
                                  stdin=json.dumps(made))
        hub.seed(labelled)
        async with ApiClient(hub.configuration()) as client:
            inventory = await ClusterInventory.from_argocd_secrets(client, namespace=namespace)
        async with inventory:
            assert [c.name for c in inventory.select({"matchLabels": {"env": "prod"}})] == [
                "spoke-1"]
            router = IstioRouter(inventory, IstioTarget.model_validate(TARGET))
            await router.preflight("spoke-1")
            await router.set_weights("spoke-1", Weights.canary_percent(25))
        assert weights_in(spoke) == (75, 25)
        assert_exact(role, accesses(spoke.requests))
