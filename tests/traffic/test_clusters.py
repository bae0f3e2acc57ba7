"""The cluster inventory from its three sources, and lazily created clients."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import certifi
import pytest
import yaml
from kubernetes.aio.client import ApiClient, Configuration, CustomObjectsApi
from support.kube import (
    CA_BUNDLE,
    CLUSTER_LABEL,
    KubeApiServer,
    argocd_secret,
    kube_api_servers,
    secret,
    virtual_service,
    write_kubeconfig,
)

from auspice.traffic.clusters import (
    ClusterCredentialError,
    ClusterInventory,
    InventoryError,
    UnknownClusterError,
)
from auspice.traffic.kube import ClusterAuthError


async def read_vs(inventory: ClusterInventory, cluster: str) -> dict:
    api = CustomObjectsApi(await inventory.api_client(cluster))
    return await api.get_namespaced_custom_object(
        "networking.istio.io", "v1", "shop", "virtualservices", "checkout", _request_timeout=5
    )


# ----------------------------------------------------------------------------- kubeconfig


async def test_kubeconfig_contexts_with_labels_file(tmp_path: Path) -> None:
    async with kube_api_servers(3, names=["eu-1", "us-1", "dev"]) as servers:
        for server in servers:
            server.seed(virtual_service())
        kubeconfig = write_kubeconfig(servers, tmp_path / "config")
        labels = tmp_path / "labels.yaml"
        labels.write_text(
            yaml.safe_dump(
                {
                    "contexts": {
                        "eu-1": {"labels": {"env": "prod", "region": "eu"}},
                        "us-1": {"name": "prod-us-1", "labels": {"env": "prod", "region": "us"}},
                    }
                }
            )
        )
        async with ClusterInventory.from_kubeconfig(kubeconfig, labels_file=labels) as inventory:
            assert inventory.names == ["eu-1", "prod-us-1"]  # the dev context is not listed
            assert inventory.get("prod-us-1").labels == {"env": "prod", "region": "us"}
            assert inventory.get("eu-1").server == servers[0].url
            assert all(server.requests == [] for server in servers)  # nothing connects on load
            assert (await read_vs(inventory, "prod-us-1"))["metadata"]["name"] == "checkout"
            first = await inventory.api_client("prod-us-1")
            assert await inventory.api_client("prod-us-1") is first
            assert [s.count() for s in servers] == [0, 1, 0]
            with pytest.raises(UnknownClusterError, match=r"'dev'.*known: eu-1, prod-us-1"):
                await inventory.api_client("dev")
        assert first.rest_client.pool_manager is None or first.rest_client.pool_manager.closed
    # no cluster's settings leaked into the library's global default configuration
    assert Configuration.get_default_copy().host == Configuration().host
    assert "BearerToken" not in Configuration.get_default_copy().api_key


async def test_without_labels_file_every_context_is_a_cluster(tmp_path: Path) -> None:
    async with kube_api_servers(2) as servers:
        inventory = ClusterInventory.from_kubeconfig(write_kubeconfig(servers, tmp_path / "c"))
        assert inventory.names == ["cluster-0", "cluster-1"]
        assert inventory.get("cluster-0").labels == {}


def test_labels_file_naming_an_unknown_context_or_field_is_an_error(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    server = KubeApiServer("eu-1")
    write_kubeconfig([server], kubeconfig)
    labels = tmp_path / "labels.yaml"
    labels.write_text("contexts:\n  eu-2: {labels: {env: prod}}\n")
    with pytest.raises(
        InventoryError, match=r"labels.yaml names contexts not in the kubeconfig: eu-2"
    ):
        ClusterInventory.from_kubeconfig(kubeconfig, labels_file=labels)
    labels.write_text("contexts:\n  eu-1: {lables: {env: prod}}\n")
    with pytest.raises(InventoryError, match=r"contexts\.eu-1\.lables: Extra inputs"):
        ClusterInventory.from_kubeconfig(kubeconfig, labels_file=labels)
    labels.write_text("contexts:\n  eu-1: {labels: {replicas: 3}}\n")
    with pytest.raises(InventoryError, match=r"contexts\.eu-1\.labels\.replicas"):
        ClusterInventory.from_kubeconfig(kubeconfig, labels_file=labels)


async def test_exec_credential_that_cannot_run_here_is_a_clear_error(tmp_path: Path) -> None:
    async with kube_api_servers(2, names=["eks-prod", "plain"]) as servers:
        path = write_kubeconfig(servers, tmp_path / "config")
        document = yaml.safe_load(path.read_text())
        document["users"][0]["user"] = {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "argocd-k8s-auth",
                "args": ["aws", "--cluster-name", "prod"],
            }
        }
        path.write_text(yaml.safe_dump(document))
        async with ClusterInventory.from_kubeconfig(path) as inventory:
            with pytest.raises(ClusterCredentialError) as caught:
                await inventory.api_client("eks-prod")
            message = str(caught.value)
            assert "cluster 'eks-prod'" in message and "context 'eks-prod'" in message
            assert "'argocd-k8s-auth' gave no credential" in message
            assert (await read_vs_or_404(inventory, "plain")) == 404  # the other one still works
        assert servers[0].requests == []


async def read_vs_or_404(inventory: ClusterInventory, cluster: str) -> int:
    from kubernetes.aio.client.exceptions import ApiException

    try:
        await read_vs(inventory, cluster)
    except ApiException as error:
        return int(error.status)
    return 200


async def test_a_working_exec_plugin_is_used(tmp_path: Path) -> None:
    async with kube_api_servers(1) as [server]:
        server.seed(virtual_service())
        plugin = tmp_path / "token-plugin"
        status = {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "kind": "ExecCredential",
            "status": {"token": server.token},
        }
        plugin.write_text(f"#!/bin/sh\necho '{json.dumps(status)}'\n")
        plugin.chmod(0o755)
        path = write_kubeconfig([server], tmp_path / "config")
        document = yaml.safe_load(path.read_text())
        document["users"][0]["user"] = {
            "exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin)}
        }
        path.write_text(yaml.safe_dump(document))
        async with ClusterInventory.from_kubeconfig(path) as inventory:
            assert (await read_vs(inventory, server.name))["kind"] == "VirtualService"


# -------------------------------------------------------------------------------- Argo CD


async def test_argocd_cluster_secrets(tmp_path: Path) -> None:
    async with kube_api_servers(3, names=["hub", "spoke-a", "spoke-b"]) as (hub, a, b):
        for spoke in (a, b):
            spoke.seed(virtual_service())
        ca = base64.b64encode(CA_BUNDLE).decode()
        hub.seed(
            argocd_secret(
                "spoke-a",
                a.url,
                {"bearerToken": a.token, "tlsClientConfig": {"caData": ca}},
                env="prod",
                region="eu",
            )
        )
        hub.seed(argocd_secret("spoke-b", b.url, {"bearerToken": b.token}, env="staging"))
        not_a_cluster = secret("repo-creds", "argocd", {"url": "https://git"})
        hub.seed(not_a_cluster)
        async with ApiClient(hub.configuration()) as hub_client:
            inventory = await ClusterInventory.from_argocd_secrets(hub_client)
        async with inventory:
            assert inventory.names == ["spoke-a", "spoke-b"]
            assert inventory.get("spoke-a").labels == {"env": "prod", "region": "eu"}
            assert (
                inventory.get("spoke-a").source == "Argo CD cluster secret argocd/cluster-spoke-a"
            )
            assert [c.name for c in inventory.select({"matchLabels": {"env": "prod"}})] == [
                "spoke-a"
            ]
            assert (await read_vs(inventory, "spoke-b"))["metadata"]["namespace"] == "shop"
            assert (await read_vs(inventory, "spoke-a"))["metadata"]["namespace"] == "shop"
            client = await inventory.api_client("spoke-a")
            assert "BEGIN CERTIFICATE" in client.configuration.ca_cert_data
        assert hub.requests == [("GET", "/api/v1/namespaces/argocd/secrets")]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (
            {"name": "bad", "server": "https://x", "config": "{not json"},
            "data.config is not valid JSON",
        ),
        ({"name": "bad", "config": "{}"}, "data.server is missing"),
        ({"name": "bad", "server": "https://x", "config": "[]"}, "must be a JSON object"),
        (
            {
                "name": "bad",
                "server": "https://x",
                "config": '{"tlsClientConfig": {"caData": "%%"}}',
            },
            "tlsClientConfig.caData is not valid base64",
        ),
    ],
)
async def test_a_malformed_argocd_secret_is_named(data: dict[str, str], words: str) -> None:
    async with kube_api_servers(1) as [hub]:
        hub.seed(secret("cluster-bad", "argocd", data, labels=CLUSTER_LABEL))
        async with ApiClient(hub.configuration()) as hub_client:
            with pytest.raises(InventoryError) as caught:
                await ClusterInventory.from_argocd_secrets(hub_client)
    assert "Argo CD cluster secret argocd/cluster-bad" in str(caught.value)
    assert words in str(caught.value)


async def test_argocd_secret_with_raw_non_base64_data_is_named() -> None:
    async with kube_api_servers(1) as [hub]:
        broken = secret("cluster-raw", "argocd", {"server": "https://x"}, labels=CLUSTER_LABEL)
        broken["data"]["server"] = "https://not-base64!"
        hub.seed(broken)
        async with ApiClient(hub.configuration()) as hub_client:
            with pytest.raises(
                InventoryError, match=r"argocd/cluster-raw: data.server is not valid"
            ):
                await ClusterInventory.from_argocd_secrets(hub_client)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (
            {"awsAuthConfig": {"clusterName": "prod", "roleARN": "arn:aws:iam::1:role/x"}},
            "awsAuthConfig",
        ),
        (
            {"execProviderConfig": {"command": "argocd-k8s-auth", "args": ["gcp"]}},
            "an exec provider",
        ),
        ({"tlsClientConfig": {"insecure": False}}, "no credentials Auspice can use"),
    ],
)
async def test_argocd_credentials_only_argocd_can_use_fail_on_use(
    config: dict[str, Any], words: str
) -> None:
    async with kube_api_servers(2, names=["hub", "ok"]) as (hub, ok):
        ok.seed(virtual_service())
        hub.seed(argocd_secret("eks", "https://eks.example:443", config, env="prod"))
        hub.seed(argocd_secret("ok", ok.url, {"bearerToken": ok.token}, env="prod"))
        async with ApiClient(hub.configuration()) as hub_client:
            inventory = await ClusterInventory.from_argocd_secrets(hub_client)
        async with inventory:
            assert inventory.names == ["eks", "ok"]  # loads, so selection still works
            with pytest.raises(ClusterCredentialError) as caught:
                await inventory.api_client("eks")
            assert "cluster 'eks' (Argo CD cluster secret argocd/cluster-eks)" in str(caught.value)
            assert words in str(caught.value)
            assert (await read_vs(inventory, "ok"))["kind"] == "VirtualService"


async def test_the_argocd_hub_answering_401_or_403_is_a_clear_error() -> None:
    async with kube_api_servers(1) as [hub]:
        async with ApiClient(hub.configuration(token="wrong")) as hub_client:
            with pytest.raises(ClusterAuthError, match=r"'mgmt'.*argocd.*401"):
                await ClusterInventory.from_argocd_secrets(hub_client, hub_name="mgmt")
        hub.forbid("list", "secrets")
        async with ApiClient(hub.configuration()) as hub_client:
            with pytest.raises(ClusterAuthError, match=r"'hub'.*forbidden \(403\).*secrets"):
                await ClusterInventory.from_argocd_secrets(hub_client)


# ----------------------------------------------------------------------------- in-cluster


async def test_in_cluster_uses_the_service_account(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("sa-token")
    environ = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    inventory = ClusterInventory.in_cluster(
        name="hub",
        labels={"role": "hub"},
        token_path=str(token),
        ca_path=certifi.where(),
        environ=environ,
    )
    async with inventory:
        assert inventory.get("hub").labels == {"role": "hub"}
        client = await inventory.api_client("hub")
        assert client.configuration.host == "https://10.0.0.1:443"
        assert (
            await client.configuration.get_api_key_with_prefix("BearerToken") == "bearer sa-token"
        )


async def test_in_cluster_outside_a_pod_is_a_clear_error(tmp_path: Path) -> None:
    inventory = ClusterInventory.in_cluster(
        token_path=str(tmp_path / "missing"), ca_path=str(tmp_path / "ca"), environ={}
    )
    async with inventory:
        with pytest.raises(ClusterCredentialError, match=r"cluster 'in-cluster' \(in-cluster\)"):
            await inventory.api_client("in-cluster")


async def test_sources_combine_and_duplicate_names_are_refused(tmp_path: Path) -> None:
    async with kube_api_servers(2, names=["in-cluster", "eu-1"]) as servers:
        from_kubeconfig = ClusterInventory.from_kubeconfig(
            write_kubeconfig(servers, tmp_path / "c")
        )
        with pytest.raises(InventoryError, match="'in-cluster' appears twice"):
            ClusterInventory.combine(from_kubeconfig, ClusterInventory.in_cluster())
        combined = ClusterInventory.combine(
            from_kubeconfig, ClusterInventory.in_cluster(name="hub")
        )
        assert combined.names == ["eu-1", "hub", "in-cluster"]


async def test_connect_creates_every_client_up_front_without_requests(tmp_path: Path) -> None:
    async with kube_api_servers(3) as servers:
        path = write_kubeconfig(servers, tmp_path / "c")
        async with ClusterInventory.from_kubeconfig(path) as inventory:
            await inventory.connect()
            clients = [await inventory.api_client(name) for name in inventory.names]
            assert len({id(c) for c in clients}) == 3
            assert [c.configuration.host for c in clients] == [s.url for s in servers]
        assert all(s.requests == [] for s in servers)
