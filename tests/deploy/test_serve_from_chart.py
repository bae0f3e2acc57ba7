"""The serve configuration and the Secrets the hub chart renders start a real
``auspice serve`` that is ready: /readyz and /healthz answer 200.

The pod is reproduced in a temp dir standing for its root: every volume of the
container is a directory at ``root + mountPath``, filled as the kubelet would (the
ConfigMaps and Secrets the chart renders, or, for the Secrets a platform team creates,
the test's), and the rendered configuration is changed only where a laptop is not a pod:

- every absolute path is moved under the root (the state file, tokens, templates, git
  cache, TLS files, ...), nothing else about it;
- the listen address becomes 127.0.0.1 and a free port (0.0.0.0:8080 in the pod);
- the Prometheus URL becomes a local test server (Thanos' querier in the pod);
- with the Kubernetes API in play, the hub is reached through a kubeconfig
  (``auth.kubernetesSecret.kubeconfig``, ``rollouts.hub``) instead of the pod's
  ServiceAccount, which no laptop has.

Every rendered configuration also loads with the service's own loader, unchanged.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path, PurePosixPath
from typing import Any

import aiohttp
import pytest
import yaml
from support.chart_values import CALLERS, HUB, JUDGE_TOKEN, VIEWER_TOKEN
from support.helm import REPO, Rendered, kubectl_object, load_serve_config, render
from support.kube import kube_api_servers, secret, write_kubeconfig
from support.prometheus import free_port
from support.rbac import accesses, refused, unused
from support.serve_process import serve_process, tail
from support.thanos_fake import ThanosFake, self_signed_certificate

from auspice.specs.validate import validate_report

#: The keys of ServeConfig that hold file paths (docs/webhooks.md).
PATH_KEYS = {
    "store.path", "templates.directory", "tls.certFile", "tls.keyFile", "auth.tokensFile",
    "auth.kubernetesSecret.kubeconfig", "prometheus.bearerTokenFile", "prometheus.caFile",
    "prometheus.clientCert", "prometheus.clientKey", "rollouts.clusters.kubeconfig",
    "rollouts.clusters.labelsFile", "rollouts.hub.kubeconfig", "rollouts.git.cacheDir",
    "rollouts.git.sshKeyFile", "rollouts.git.knownHostsFile", "rollouts.git.tokenFile",
}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items()
                for k, v in flatten(item, f"{prefix}{key}.").items()}
    return {prefix[:-1]: value}


def under(root: Path, path: str) -> Path:
    return root / PurePosixPath(path).relative_to("/")


def localize(config: dict[str, Any], root: Path, *, port: int, prometheus: str) -> dict[str, Any]:
    """The rendered configuration, changed only as the module docstring says."""
    local = copy.deepcopy(config)

    def move(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict):
                move(value, dotted + ".")
            elif isinstance(value, str) and value.startswith("/"):
                assert dotted in PATH_KEYS, f"{dotted} = {value} looks like a path but is not one"
                node[key] = str(under(root, value))

    move(local, "")
    local["listen"] = {"host": "127.0.0.1", "port": port}
    local["prometheus"]["url"] = prometheus
    before, after = flatten(config), flatten(local)
    assert before.keys() == after.keys()
    changed = {key for key in before if before[key] != after[key]}
    assert changed <= PATH_KEYS | {"listen.host", "listen.port", "prometheus.url"}, changed
    return local


def secret_files(obj: dict[str, Any]) -> dict[str, bytes]:
    files = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    files |= {k: v.encode() for k, v in (obj.get("stringData") or {}).items()}
    return files


def materialize(rendered: Rendered, root: Path,
                secrets: dict[str, dict[str, bytes]] | None = None) -> None:
    """Every volume of the Auspice container as a directory under ``root``, filled like
    the kubelet fills it (init containers aside). Secrets the chart does not render come
    from ``secrets``; a missing one fails, as the pod would wait for it."""
    deployment = rendered.one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    by_name = {v["name"]: v for v in pod["volumes"]}
    container = next(c for c in pod["containers"] if c["name"] == "auspice")

    def source(kind: str, body: dict[str, Any]) -> dict[str, bytes]:
        if kind == "configMap":
            files = {k: v.encode() for k, v in rendered.one("ConfigMap", body["name"])[
                "data"].items()}
        else:
            name = body.get("secretName", body.get("name"))
            made = [s for s in rendered.of_kind("Secret") if s["metadata"]["name"] == name]
            if made:
                files = secret_files(made[0])
            else:
                assert name in (secrets or {}), f"the pod would wait for Secret {name}"
                files = (secrets or {})[name]
        if body.get("items"):
            return {item["path"]: files[item["key"]] for item in body["items"]}
        return files

    for mount in container["volumeMounts"]:
        directory = under(root, mount["mountPath"])
        directory.mkdir(parents=True, exist_ok=True)
        volume = by_name[mount["name"]]
        if "emptyDir" in volume or "persistentVolumeClaim" in volume:
            continue
        if "projected" in volume:
            parts = [source(*next(iter(s.items()))) for s in volume["projected"]["sources"]]
        else:
            kind = "configMap" if "configMap" in volume else "secret"
            parts = [source(kind, volume[kind])]
        for files in parts:
            for name, content in files.items():
                path = directory / name
                path.write_bytes(content)
                path.chmod(0o440)


@pytest.mark.parametrize(("name", "values"), list(HUB.items()), ids=list(HUB))
def test_every_rendered_configuration_is_valid_for_auspice_validate(
        name: str, values: dict[str, Any], tmp_path: Path) -> None:
    """What the chart renders passes the check a platform team runs before deploying
    (``auspice validate serve.yaml``), and loads as the service reads it."""
    config = render("auspice", values).serve_config()
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    report = validate_report([path])
    assert report.ok, [str(problem) for problem in report.problems]
    assert [d.kind for d in report.documents] == [None]  # recognised without a kind
    loaded = load_serve_config(path)
    assert loaded.listen.port == 8080 and str(loaded.store.path) == config["store"]["path"]
    assert (loaded.rollouts is not None) == bool(values.get("rollouts", {}).get("enabled"))


async def get(http: aiohttp.ClientSession, url: str, token: str | None = None,
              ) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(url, headers=headers, ssl=False) as answer:
        return answer.status, await answer.json()


def image_environment(root: Path) -> dict[str, str]:
    """HOME and TMPDIR as the image sets them (/tmp, an emptyDir in the pod)."""
    return {"HOME": str(under(root, "/tmp")), "TMPDIR": str(under(root, "/tmp"))}


async def test_the_rendered_configuration_and_tokens_start_a_ready_service(
        tmp_path: Path) -> None:
    rendered = render("auspice", HUB["callers"])
    root, port, log = tmp_path / "pod", free_port(), tmp_path / "serve.log"
    materialize(rendered, root)
    async with ThanosFake() as prometheus:
        config = localize(rendered.serve_config(), root, port=port, prometheus=prometheus.url)
        path = under(root, "/etc/auspice/config/serve.yaml")
        path.write_text(yaml.safe_dump(config))
        load_serve_config(path)
        async with serve_process(path, port, log, env=image_environment(root)) as process, \
                aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            status, ready = await get(http, f"{base}/readyz")
            assert status == 200, (ready, tail(log))
            assert ready["status"] == "ready"
            assert ready["checks"]["store"]["ok"] and ready["checks"]["metrics_source"]["ok"]
            assert (await get(http, f"{base}/healthz"))[0] == 200
            # the callers from the chart's Secret are the service's callers
            assert (await get(http, f"{base}/api/v1/templates"))[0] == 401
            assert (await get(http, f"{base}/api/v1/templates", VIEWER_TOKEN))[0] == 200
            assert (await get(http, f"{base}/api/v1/audit", JUDGE_TOKEN))[0] == 403
            process.terminate()
            assert await process.wait() == 0, tail(log)
        queries = [r.params.get("query") for r in prometheus.requests
                   if r.path.endswith("/query_range")]
        assert "vector(1)" in queries, "/readyz asked another Prometheus"
    assert under(root, rendered.serve_config()["store"]["path"]).exists()


async def test_the_default_chart_with_the_token_secret_of_the_docs_starts_ready(
        tmp_path: Path) -> None:
    """docs/deploy.md step 2 (the Secret made with kubectl) and step 6 with default
    values: the pod's tokens volume finds that Secret and the service takes its callers."""
    steps = (REPO / "docs" / "deploy.md").read_text()
    assert "create secret generic auspice-tokens" in steps and "--from-file=tokens.yaml" in steps
    (tmp_path / "tokens.yaml").write_text(yaml.safe_dump({"tokens": CALLERS}))
    made = kubectl_object("-n", "auspice-system", "create", "secret", "generic",
                          "auspice-tokens", "--from-file=tokens.yaml", "--dry-run=client",
                          cwd=tmp_path)
    rendered = render("auspice", HUB["defaults"])
    root, port, log = tmp_path / "pod", free_port(), tmp_path / "serve.log"
    materialize(rendered, root, secrets={made["metadata"]["name"]: secret_files(made)})
    async with ThanosFake() as prometheus:
        config = localize(rendered.serve_config(), root, port=port, prometheus=prometheus.url)
        path = under(root, "/etc/auspice/config/serve.yaml")
        path.write_text(yaml.safe_dump(config))
        async with serve_process(path, port, log, env=image_environment(root)), \
                aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            status, ready = await get(http, f"{base}/readyz")
            assert status == 200, (ready, tail(log))
            assert (await get(http, f"{base}/healthz"))[0] == 200
            assert (await get(http, f"{base}/api/v1/templates", VIEWER_TOKEN))[0] == 200
            assert (await get(http, f"{base}/api/v1/templates", "not-a-caller-token"))[0] == 401


async def test_tokens_and_spokes_read_through_the_hub_api_with_exactly_the_chart_rbac(
        tmp_path: Path) -> None:
    """HTTPS, templates from the chart's ConfigMap, tokens from a Secret and spokes from
    cluster Secrets read through the hub's API, git over HTTPS: the service is ready, and
    what it asked the hub's API server is exactly what the chart's Roles grant."""
    rendered = render("auspice", HUB["rollouts-api"])
    root, port, log = tmp_path / "pod", free_port(), tmp_path / "serve.log"
    certificate = self_signed_certificate(tmp_path)
    materialize(rendered, root, secrets={
        "auspice-tls": {"tls.crt": certificate.cert.read_bytes(),
                        "tls.key": certificate.key.read_bytes()},
        "git-token": {"token": b"git-token-for-the-revert"}})
    config = rendered.serve_config()
    namespace = config["rollouts"]["clusters"]["argocd"]["namespace"]
    reference = config["auth"]["kubernetesSecret"]
    async with kube_api_servers(2, names=["hub", "prod-eu-1"]) as (hub, spoke), \
            ThanosFake() as prometheus:
        hub.seed(secret(reference["name"], reference["namespace"],
                        {reference["key"]: yaml.safe_dump({"tokens": CALLERS})}))
        hub.seed(secret("cluster-prod-eu-1", namespace, {
            "name": "prod-eu-1", "server": spoke.url,
            "config": json.dumps({"bearerToken": spoke.token})},
            labels={"argocd.argoproj.io/secret-type": "cluster", "env": "prod"}))
        kubeconfig = write_kubeconfig([hub], tmp_path / "hub-kubeconfig")
        local = localize(config, root, port=port, prometheus=prometheus.url)
        local["auth"]["kubernetesSecret"] |= {"kubeconfig": str(kubeconfig), "context": "hub"}
        local["rollouts"]["hub"] = {"kubeconfig": str(kubeconfig), "context": "hub"}
        path = under(root, "/etc/auspice/config/serve.yaml")
        path.write_text(yaml.safe_dump(local))
        load_serve_config(path)
        async with serve_process(path, port, log, scheme="https",
                                 env=image_environment(root)), \
                aiohttp.ClientSession() as http:
            base = f"https://127.0.0.1:{port}"
            status, ready = await get(http, f"{base}/readyz")
            assert status == 200, (ready, tail(log))
            assert (await get(http, f"{base}/healthz"))[0] == 200
            status, templates = await get(http, f"{base}/api/v1/templates", VIEWER_TOKEN)
            assert status == 200 and "checkout-errors" in json.dumps(templates), templates
        used = accesses(hub.requests)
    roles = rendered.of_kind("Role")
    assert not refused(roles, used), f"the chart's Roles do not allow {refused(roles, used)}"
    assert not unused(roles, used), f"the chart grants what is never used: {unused(roles, used)}"
    assert {a.verb for a in used} == {"get", "list"}
