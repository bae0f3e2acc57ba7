"""``auspice serve`` with and without ``rollouts:``: the inventory, hub and git it is given,
what it refuses before it listens, and the rollouts API it then serves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from support.kube import argocd_secret, kube_api_servers, write_kubeconfig
from support.prometheus import free_port
from support.service import TOKENS, CountingFake

from auspice.analysis.templates import TemplateResolver
from auspice.clock import VirtualClock
from auspice.errors import ConfigError
from auspice.gitops import HttpsTokenAuth, SshKeyAuth
from auspice.specs import SpecError
from auspice.specs.serve import GitConfig, RolloutsConfig, ServeConfig, load_config
from auspice.storage import Storage
from auspice.webhooks.rollouts import api as rollouts_api
from auspice.webhooks.rollouts.service import build_rollouts, repo_options
from auspice.webhooks.serve import serve


def git(**fields: Any) -> GitConfig:
    return GitConfig.model_validate(fields)


def test_git_credentials_become_the_repository_auth(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    ssh = repo_options(git(sshKeyFile=str(key), acceptNewHostKeys=True, authorName="Bot"))
    assert ssh["auth"] == SshKeyAuth(key_file=key, accept_new_host_keys=True)
    assert ssh["author_name"] == "Bot" and ssh["timeout_seconds"] == 60.0
    token = repo_options(git(tokenEnv="GIT_TOKEN", username="oauth2"))
    assert token["auth"] == HttpsTokenAuth(token_env="GIT_TOKEN", username="oauth2")
    assert repo_options(git())["auth"] is None  # git's own configuration, as a person's


@pytest.mark.parametrize(("fields", "words"), [
    ({"sshKeyFile": "/k", "tokenFile": "/t"}, "both an SSH key and an HTTPS token"),
    ({"tokenFile": "/t", "tokenEnv": "T"}, "both tokenFile and tokenEnv"),
])
def test_contradicting_git_credentials_are_refused(fields: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        repo_options(git(**fields))


async def rollouts(config: dict[str, Any], tmp_path: Path) -> Any:
    store = await Storage.open(tmp_path / "state.db")
    try:
        return await build_rollouts(RolloutsConfig.model_validate(config), database=store.database,
                                    source=CountingFake(), templates=TemplateResolver(),
                                    clock=VirtualClock(start=0.0))
    finally:
        await store.close()


@pytest.mark.parametrize(("clusters", "words"), [
    ({}, "gives no cluster"),
    ({"labelsFile": "/etc/labels.yaml"}, "labelsFile is given without a kubeconfig"),
])
async def test_a_service_that_could_not_roll_out_does_not_start(
        tmp_path: Path, clusters: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        await rollouts({"clusters": clusters}, tmp_path)


async def test_a_hub_context_without_its_kubeconfig_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"context is given without rollouts\.hub\.kubeconfig"):
        await rollouts({"clusters": {"inCluster": {}}, "hub": {"context": "mgmt"}}, tmp_path)


@pytest.mark.parametrize(("setting", "words"), [
    ("tokenEnv: not a name", "tokenEnv"),
    ("timeout: 2h", "3600"),
])
def test_a_bad_git_setting_is_refused_where_it_is_written(
        tmp_path: Path, setting: str, words: str) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("prometheus: {url: 'http://p:9090'}\nrollouts:\n  clusters: {}\n"
                    f"  git:\n    {setting}\n")
    with pytest.raises(SpecError) as caught:
        load_config(path)
    assert "serve.yaml:5" in str(caught.value) and words in str(caught.value)


async def test_a_hub_context_that_is_not_in_its_kubeconfig_is_named(tmp_path: Path) -> None:
    async with kube_api_servers(1, names=["mgmt"]) as servers:
        kubeconfig = write_kubeconfig(servers, tmp_path / "hub.kubeconfig")
        with pytest.raises(ConfigError, match="'management' is not a context") as caught:
            await rollouts({"clusters": {"argocd": {}},
                            "hub": {"kubeconfig": str(kubeconfig), "context": "management"}},
                           tmp_path)
    assert "mgmt" in (caught.value.hint or "")


async def test_clusters_from_argo_cd_secrets_in_the_hub(tmp_path: Path) -> None:
    """The hub's Argo CD Secrets become the rollout's clusters, labels included, and the
    spokes are reached with the credentials the Secrets hold."""
    async with kube_api_servers(3, names=["mgmt", "eu", "us"]) as (hub, eu, us):
        for spoke, env in ((eu, "prod"), (us, "staging")):
            hub.seed(argocd_secret(spoke.name, spoke.url, {"bearerToken": spoke.token},
                                   env=env))
        kubeconfig = write_kubeconfig([hub], tmp_path / "hub.kubeconfig")
        service = await rollouts({"clusters": {"argocd": {"namespace": "argocd"}},
                                  "hub": {"kubeconfig": str(kubeconfig), "context": "mgmt"}},
                                 tmp_path)
        try:
            clusters = {c.name: dict(c.labels) for c in service.orchestrator.world.clusters}
            assert clusters == {"eu": {"env": "prod"}, "us": {"env": "staging"}}
            client = await service.inventory.api_client("eu")
            assert client.configuration.host == eu.url
            assert service.hub is not None and service.hub.name == "mgmt"
        finally:
            await service.close()


@asynccontextmanager
async def serving(config: dict[str, Any]) -> AsyncIterator[str]:
    """``serve()`` in this process on a free port; yields the base URL."""
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(ServeConfig.model_validate(
        {**config, "listen": {"host": "127.0.0.1", "port": port}}), stop=stop))
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            assert not task.done(), task.exception()
            try:
                async with http.get(f"{url}/healthz"):
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)
    try:
        yield url
    finally:
        stop.set()
        await task


def base_config(tmp_path: Path) -> dict[str, Any]:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"tokens": [
        {"name": "oncall", "role": "operator", "token": TOKENS["operator"]}]}))
    return {"prometheus": {"url": "http://127.0.0.1:1"},
            "store": {"path": str(tmp_path / "state.db")}, "auth": {"tokensFile": str(tokens)}}


async def get(url: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {TOKENS['operator']}"}
    async with aiohttp.ClientSession(headers=headers) as http, http.get(url) as answer:
        return answer.status, await answer.json()


async def test_without_rollouts_the_api_says_this_service_only_judges(tmp_path: Path) -> None:
    async with serving(base_config(tmp_path)) as url:
        status, body = await get(f"{url}/api/v1/rollouts")
    assert status == 503 and "does not run rollouts" in body["message"], body


async def test_with_rollouts_the_api_lists_the_rollouts_of_the_state_file(
        tmp_path: Path) -> None:
    async with kube_api_servers(2, names=["eu", "us"]) as servers:
        kubeconfig = write_kubeconfig(servers, tmp_path / "kubeconfig")
        config = {**base_config(tmp_path),
                  "rollouts": {"clusters": {"kubeconfig": str(kubeconfig)},
                               "git": {"cacheDir": str(tmp_path / "git")}}}
        async with serving(config) as url:
            status, body = await get(f"{url}/api/v1/rollouts")
    assert status == 200 and body == {"rollouts": []}, body


async def test_the_openapi_document_describes_every_rollouts_route(tmp_path: Path) -> None:
    app = web.Application()
    rollouts_api.add_routes(app)
    routes = {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.method != "HEAD"}
    async with serving(base_config(tmp_path)) as url:
        status, doc = await get(f"{url}/api/v1/openapi.json")
    assert status == 200
    described = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert len(routes) == 6 and routes <= described, routes - described
    plan = doc["components"]["schemas"]["RolloutPlan"]
    assert set(plan["required"]) == {"apiVersion", "kind", "metadata", "spec"}
    refs = set(references(doc))
    assert "#/components/schemas/Wave" in refs  # nested models are referenced...
    missing = {ref for ref in refs
               if ref.removeprefix("#/components/schemas/") not in doc["components"]["schemas"]}
    assert missing == set()  # ...and every reference has its schema


def references(node: Any) -> Iterator[str]:
    """Every ``$ref`` in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)
