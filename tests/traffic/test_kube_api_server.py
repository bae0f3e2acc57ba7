"""The Kubernetes API test server itself, driven by the real kubernetes.aio client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from kubernetes.aio.client import ApiClient, CoordinationV1Api, CoreV1Api, CustomObjectsApi
from kubernetes.aio.client.exceptions import ApiException
from support.kube import KubeApiServer, kube_api_servers, secret, virtual_service
from support.kube.admission import admit
from support.kube.patches import json_patch, merge_patch

GROUP, PLURAL = "networking.istio.io", "virtualservices"


@pytest.fixture
async def server() -> AsyncIterator[KubeApiServer]:
    async with kube_api_servers(1) as [started]:
        started.seed(virtual_service())
        yield started


@pytest.fixture
async def api(server: KubeApiServer) -> AsyncIterator[CustomObjectsApi]:
    async with ApiClient(server.configuration()) as client:
        yield CustomObjectsApi(client)


async def get(api: CustomObjectsApi, version: str = "v1") -> dict:
    return await api.get_namespaced_custom_object(GROUP, version, "shop", PLURAL, "checkout")


async def status_of(call) -> int:
    with pytest.raises(ApiException) as caught:
        await call
    return int(caught.value.status)


async def test_both_istio_versions_serve_the_same_object(api: CustomObjectsApi) -> None:
    v1, beta = await get(api), await get(api, "v1beta1")
    assert v1["apiVersion"] == "networking.istio.io/v1"
    assert beta["apiVersion"] == "networking.istio.io/v1beta1"
    assert v1["metadata"]["resourceVersion"] == beta["metadata"]["resourceVersion"]


async def test_put_keeps_resource_version_and_conflicts_on_stale(api: CustomObjectsApi) -> None:
    current = await get(api)
    current["spec"]["hosts"].append("checkout.shop.svc.cluster.local")
    updated = await api.replace_namespaced_custom_object(
        GROUP, "v1", "shop", PLURAL, "checkout", current
    )
    assert int(updated["metadata"]["resourceVersion"]) > int(current["metadata"]["resourceVersion"])
    # the same (now stale) body again
    assert (
        await status_of(
            api.replace_namespaced_custom_object(GROUP, "v1", "shop", PLURAL, "checkout", current)
        )
        == 409
    )
    del current["metadata"]["resourceVersion"]
    assert (
        await status_of(
            api.replace_namespaced_custom_object(GROUP, "v1", "shop", PLURAL, "checkout", current)
        )
        == 422
    )


async def test_patch_types(api: CustomObjectsApi, server: KubeApiServer) -> None:
    merged = await api.patch_namespaced_custom_object(
        GROUP, "v1", "shop", PLURAL, "checkout", {"metadata": {"labels": {"team": "pay"}}}
    )
    assert merged["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "argocd", "team": "pay"}
    patched = await api.patch_namespaced_custom_object(
        GROUP,
        "v1",
        "shop",
        PLURAL,
        "checkout",
        [
            {"op": "test", "path": "/spec/http/1/name", "value": "primary"},
            {"op": "remove", "path": "/metadata/labels/team"},
        ],
        _content_type="application/json-patch+json",
    )
    assert "team" not in patched["metadata"]["labels"]
    failed_test = api.patch_namespaced_custom_object(
        GROUP,
        "v1",
        "shop",
        PLURAL,
        "checkout",
        [{"op": "test", "path": "/spec/http/1/name", "value": "other"}],
        _content_type="application/json-patch+json",
    )
    assert await status_of(failed_test) == 422
    applied = await api.patch_namespaced_custom_object(
        GROUP,
        "v1",
        "shop",
        PLURAL,
        "checkout",
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "checkout", "annotations": {"a": "b"}},
        },
        field_manager="auspice",
        _content_type="application/apply-patch+yaml",
    )
    assert applied["metadata"]["annotations"] == {"a": "b"}
    assert applied["spec"]["http"][1]["name"] == "primary"  # untouched by the apply
    no_manager = api.patch_namespaced_custom_object(
        GROUP,
        "v1",
        "shop",
        PLURAL,
        "checkout",
        {"metadata": {}},
        _content_type="application/apply-patch+yaml",
    )
    assert await status_of(no_manager) == 400
    strategic = api.patch_namespaced_custom_object(
        GROUP,
        "v1",
        "shop",
        PLURAL,
        "checkout",
        {"metadata": {}},
        _content_type="application/strategic-merge-patch+json",
    )
    assert await status_of(strategic) == 415
    assert [verb for verb, _ in server.requests].count("PATCH") == 6


async def test_json_patch_with_a_stale_resource_version_is_a_conflict(
    api: CustomObjectsApi,
) -> None:
    stale = (await get(api))["metadata"]["resourceVersion"]
    await api.patch_namespaced_custom_object(
        GROUP, "v1", "shop", PLURAL, "checkout", {"metadata": {"labels": {"x": "y"}}}
    )
    call = api.patch_namespaced_custom_object(
        GROUP,
        "v1",
        "shop",
        PLURAL,
        "checkout",
        [{"op": "replace", "path": "/metadata/resourceVersion", "value": stale}],
        _content_type="application/json-patch+json",
    )
    assert await status_of(call) == 409


@pytest.mark.parametrize(
    ("weights", "accepted"),
    [
        ((90, 10), True),
        ((100, 0), True),
        ((90, 20), False),
        ((101, -1), False),
        ((50.5, 49.5), False),
    ],
)
async def test_istio_admission_checks_weights(
    api: CustomObjectsApi, weights: tuple, accepted: bool
) -> None:
    operations = [
        {"op": "replace", "path": "/spec/http/1/route/0/weight", "value": weights[0]},
        {"op": "replace", "path": "/spec/http/1/route/1/weight", "value": weights[1]},
    ]
    call = api.patch_namespaced_custom_object(
        GROUP,
        "v1",
        "shop",
        PLURAL,
        "checkout",
        operations,
        _content_type="application/json-patch+json",
    )
    if accepted:
        await call
    else:
        with pytest.raises(ApiException) as caught:
            await call
        assert caught.value.status == 400
        assert "validation.istio.io" in caught.value.body


def test_admission_of_a_single_destination_without_weight() -> None:
    admit(virtual_service())  # the 'legacy' route has one destination and no weight
    broken = virtual_service()
    broken["spec"]["http"][1]["route"][0]["destination"].pop("host")
    with pytest.raises(Exception, match="destination is required"):
        admit(broken)


async def test_auth_and_rbac(server: KubeApiServer) -> None:
    async with ApiClient(server.configuration(token="nope")) as client:
        assert (
            await status_of(
                CustomObjectsApi(client).get_namespaced_custom_object(
                    GROUP, "v1", "shop", PLURAL, "checkout"
                )
            )
            == 401
        )
    server.forbid("get", PLURAL)
    async with ApiClient(server.configuration()) as client:
        api = CustomObjectsApi(client)
        assert (
            await status_of(
                api.get_namespaced_custom_object(GROUP, "v1", "shop", PLURAL, "checkout")
            )
            == 403
        )
        assert (
            await status_of(
                api.get_namespaced_custom_object(GROUP, "v1", "shop", PLURAL, "nothing")
            )
            == 403
        )
        assert (
            await status_of(
                api.get_namespaced_custom_object(GROUP, "v1", "shop", "destinationrules", "x")
            )
            == 404
        )


async def test_secrets_leases_and_other_custom_objects(server: KubeApiServer) -> None:
    server.seed(
        secret("a", "argocd", {"k": "v"}, labels={"argocd.argoproj.io/secret-type": "cluster"})
    )
    server.seed(secret("b", "argocd", {"k": "v"}, labels={"other": "x"}))
    async with ApiClient(server.configuration()) as client:
        core = CoreV1Api(client)
        listed = await core.list_namespaced_secret(
            "argocd", label_selector="argocd.argoproj.io/secret-type=cluster"
        )
        assert [s.metadata.name for s in listed.items] == ["a"]
        assert (
            len((await core.list_namespaced_secret("argocd", label_selector="!other")).items) == 1
        )
        leases = CoordinationV1Api(client)
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "auspice", "namespace": "auspice"},
            "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15},
        }
        created = await leases.create_namespaced_lease("auspice", body)
        assert created.spec.holder_identity == "pod-a"
        assert await status_of(leases.create_namespaced_lease("auspice", body)) == 409
        created.spec.holder_identity = "pod-b"
        replaced = await leases.replace_namespaced_lease("auspice", "auspice", created)
        assert replaced.spec.holder_identity == "pod-b"
        assert (
            await status_of(leases.replace_namespaced_lease("auspice", "auspice", created)) == 409
        )
        custom = CustomObjectsApi(client)
        app = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "shop", "namespace": "argocd"},
            "spec": {"syncPolicy": {"automated": {"selfHeal": True}}},
        }
        await custom.create_namespaced_custom_object(
            "argoproj.io", "v1alpha1", "argocd", "applications", app
        )
        paused = await custom.patch_namespaced_custom_object(
            "argoproj.io",
            "v1alpha1",
            "argocd",
            "applications",
            "shop",
            {"spec": {"syncPolicy": {"automated": None}}},
        )
        assert paused["spec"]["syncPolicy"] == {}


async def test_faults_latency_errors_and_request_counts(
    server: KubeApiServer, api: CustomObjectsApi
) -> None:
    server.faults.fail_next = 2
    server.faults.error_status = 500
    assert await status_of(get(api)) == 500
    assert await status_of(get(api)) == 500
    await get(api)
    assert server.counts() == {"GET": 3}
    assert server.count("GET", path_contains="/virtualservices/checkout") == 3
    await server.go_down()
    with pytest.raises(Exception):  # noqa: B017 - the client raises aiohttp's connection error
        await get(api)
    await server.come_back()
    assert (await get(api))["kind"] == "VirtualService"


def test_patch_helpers_follow_the_rfcs() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}}, {"a": {"b": None, "d": [1]}}) == {
        "a": {"c": 2, "d": [1]}
    }
    doc = {"list": [1, 2], "x": {"y": 1}}
    assert json_patch(
        doc,
        [
            {"op": "add", "path": "/list/-", "value": 3},
            {"op": "move", "from": "/x/y", "path": "/z"},
            {"op": "copy", "from": "/z", "path": "/w"},
        ],
    ) == {"list": [1, 2, 3], "x": {}, "z": 1, "w": 1}
    assert doc == {"list": [1, 2], "x": {"y": 1}}  # input untouched
    with pytest.raises(ValueError, match="not found"):
        json_patch(doc, [{"op": "replace", "path": "/missing", "value": 1}])
    with pytest.raises(ValueError, match="out of range"):
        json_patch(doc, [{"op": "replace", "path": "/list/5", "value": 1}])
