"""What the rendered objects say: non-root on a read-only root filesystem, every path of
the serve configuration on a volume that has it, probes on real routes, the Service the
examples call, RBAC without a wildcard or a ClusterRole, the HA settings wired."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from support.chart_values import CALLERS, HUB, SPOKE
from support.helm import REPO, Rendered, app_routes, render

HUB_CASES = list(HUB.items())
ALL_CASES = [("auspice", n, v) for n, v in HUB.items()] + [
    ("auspice-spoke", n, v) for n, v in SPOKE.items()]
ALL_IDS = [f"{chart}:{name}" for chart, name, _ in ALL_CASES]


def hub(name: str) -> Rendered:
    return render("auspice", HUB[name])


def main_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "auspice")


def volumes(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes", [])}


def mount_for(container: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The mount holding ``path`` (the deepest one, as the kernel resolves it)."""
    holding = [m for m in container.get("volumeMounts", [])
               if PurePosixPath(path).is_relative_to(m["mountPath"])]
    return max(holding, key=lambda m: len(m["mountPath"]), default=None)


# ------------------------------------------------------------------------- pod security


@pytest.mark.parametrize(("chart", "name", "values"), ALL_CASES, ids=ALL_IDS)
def test_every_container_runs_non_root_on_a_read_only_root(
        chart: str, name: str, values: dict[str, Any]) -> None:
    rendered = render(chart, values)
    for what, pod in rendered.pod_specs():
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        assert all("hostPath" not in v for v in pod.get("volumes", [])), what
        pod_context = pod.get("securityContext", {})
        assert pod_context.get("seccompProfile", {}).get("type") == "RuntimeDefault", what
        for container in pod.get("initContainers", []) + pod["containers"]:
            where = f"{what} container {container['name']}"
            context = {**pod_context, **container.get("securityContext", {})}
            assert context.get("runAsNonRoot") is True, where
            assert context.get("runAsUser", 0) != 0 and context.get("runAsGroup", 0) != 0, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("privileged", False) is False, where
            assert "ALL" in context.get("capabilities", {}).get("drop", []), where
            assert not context.get("capabilities", {}).get("add"), where
            assert context.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
            assert container.get("resources", {}).get("limits", {}).get("memory"), where


@pytest.mark.parametrize(("name", "values"), HUB_CASES, ids=list(HUB))
def test_every_path_the_service_writes_is_a_writable_volume(
        name: str, values: dict[str, Any]) -> None:
    """With a read-only root, the state file's directory, the git cache and /tmp (git's
    askpass, ssh; HOME and TMPDIR in the image) must be volumes the pod may write."""
    rendered = render("auspice", values)
    config = rendered.serve_config()
    deployment = rendered.one("Deployment")
    container = main_container(deployment)
    writable = [str(PurePosixPath(config["store"]["path"]).parent), "/tmp"]
    if "rollouts" in config:
        writable.append(config["rollouts"]["git"]["cacheDir"])
    else:
        writable.append("/var/cache/auspice/git")
    for path in writable:
        mount = mount_for(container, path)
        assert mount is not None and mount["mountPath"] == path, f"{path} is not a volume"
        assert not mount.get("readOnly"), path
        volume = volumes(deployment)[mount["name"]]
        assert "emptyDir" in volume or "persistentVolumeClaim" in volume, volume


def files_read(config: dict[str, Any]) -> list[str]:
    """Every file the serve configuration makes the service read."""
    paths = [config["auth"].get("tokensFile")]
    paths += [config.get("tls", {}).get(k) for k in ("certFile", "keyFile")]
    rollouts = config.get("rollouts", {})
    paths += [rollouts.get("clusters", {}).get(k) for k in ("kubeconfig", "labelsFile")]
    paths += [rollouts.get("git", {}).get(k) for k in ("tokenFile", "knownHostsFile",
                                                        "sshKeyFile")]
    prometheus = config["prometheus"]
    paths += [prometheus.get(k) for k in ("bearerTokenFile", "caFile", "clientCert",
                                          "clientKey")]
    return [p for p in paths if p]


def files_on(volume: dict[str, Any], rendered: Rendered) -> set[str] | None:
    """The file names a Secret/ConfigMap/projected volume provides (None: any, e.g. an
    emptyDir filled by an init container or a Secret mounted whole)."""
    def source_files(source: dict[str, Any], kind: str) -> set[str] | None:
        if source.get("items"):
            return {item["path"] for item in source["items"]}
        if kind == "configMap":
            return set(rendered.one("ConfigMap", source["name"])["data"])
        return None

    if "projected" in volume:
        names: set[str] = set()
        for source in volume["projected"]["sources"]:
            kind, body = next(iter(source.items()))
            found = source_files(body, kind)
            assert found is not None, "a projected source without items"
            names |= found
        return names
    for kind in ("secret", "configMap"):
        if kind in volume:
            return source_files(volume[kind], kind)
    return None


@pytest.mark.parametrize(("name", "values"), HUB_CASES, ids=list(HUB))
def test_every_file_the_configuration_names_is_mounted(
        name: str, values: dict[str, Any]) -> None:
    rendered = render("auspice", values)
    config = rendered.serve_config()
    deployment = rendered.one("Deployment")
    container = main_container(deployment)
    for path in files_read(config):
        mount = mount_for(container, path)
        assert mount is not None, f"{path} is on no volume (the root filesystem is read-only)"
        provided = files_on(volumes(deployment)[mount["name"]], rendered)
        relative = str(PurePosixPath(path).relative_to(mount["mountPath"]))
        assert provided is None or relative in provided, f"{path}: the volume has {provided}"
    directory = config.get("templates", {}).get("directory")
    if directory:
        mount = mount_for(container, directory)
        assert mount is not None and mount["mountPath"] == directory
        provided = files_on(volumes(deployment)[mount["name"]], rendered)
        assert provided and all(n.endswith(".yaml") for n in provided)


def test_an_ssh_key_reaches_ssh_with_mode_0600() -> None:
    """fsGroup makes Secret files 0440, which ssh (and GitReverter) refuse: an init
    container copies the key to a memory volume with mode 0600, owned by the service."""
    rendered = hub("rollouts-everything")
    config = rendered.serve_config()
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    key = config["rollouts"]["git"]["sshKeyFile"]
    [init] = pod["initContainers"]
    assert init["command"][:3] == ["install", "-m", "0600"] and init["command"][-1] == key
    source = init["command"][-2]
    assert mount_for(init, source)["name"] == "git-credentials"
    target_mount = mount_for(init, key)
    assert not target_mount.get("readOnly")
    volume = volumes(rendered.one("Deployment"))[target_mount["name"]]
    assert volume["emptyDir"]["medium"] == "Memory"
    assert mount_for(main_container(rendered.one("Deployment")), key)["name"] == volume["name"]


@pytest.mark.parametrize(("name", "values"), HUB_CASES, ids=list(HUB))
def test_the_config_map_is_what_the_container_reads(name: str, values: dict[str, Any]) -> None:
    rendered = render("auspice", values)
    deployment = rendered.one("Deployment")
    container = main_container(deployment)
    path = container["args"][container["args"].index("--config") + 1]
    mount = mount_for(container, path)
    assert mount["readOnly"] is True
    assert volumes(deployment)[mount["name"]]["configMap"]["name"] == rendered.one(
        "ConfigMap", "auspice")["metadata"]["name"]
    config = rendered.serve_config()
    assert config["listen"] == {"host": "0.0.0.0", "port": container["ports"][0][
        "containerPort"]}
    annotation = deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert re.fullmatch(r"[0-9a-f]{64}", annotation)


def test_a_config_change_restarts_the_pod() -> None:
    first = hub("callers").one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    changed = render("auspice", {**HUB["callers"], "config": {
        "prometheus": {"url": "http://other:9090"}}})
    second = changed.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert first["checksum/config"] != second["checksum/config"]


# ------------------------------------------------------------------------- tokens


def test_listed_callers_become_the_secret_the_service_reads() -> None:
    rendered = hub("callers")
    config = rendered.serve_config()
    deployment = rendered.one("Deployment")
    mount = mount_for(main_container(deployment), config["auth"]["tokensFile"])
    secret_name = volumes(deployment)[mount["name"]]["secret"]["secretName"]
    secret = rendered.one("Secret", secret_name)
    key = PurePosixPath(config["auth"]["tokensFile"]).name
    assert yaml.safe_load(secret["stringData"][key]) == {"tokens": CALLERS}
    assert "checksum/tokens" in deployment["spec"]["template"]["metadata"]["annotations"]


@pytest.mark.parametrize(("name", "secret", "key"), [
    ("defaults", "auspice-tokens", "tokens.yaml"),
    ("existing-secret", "team-tokens", "callers.yaml")])
def test_a_secret_you_create_is_mounted_not_rendered(name: str, secret: str, key: str) -> None:
    rendered = hub(name)
    assert rendered.of_kind("Secret") == []
    config = rendered.serve_config()
    assert config["auth"] == {"tokensFile": f"/etc/auspice/tokens/{key}"}
    deployment = rendered.one("Deployment")
    volume = volumes(deployment)[mount_for(main_container(deployment),
                                           config["auth"]["tokensFile"])["name"]]
    assert volume["secret"]["secretName"] == secret
    assert volume["secret"]["items"] == [{"key": key, "path": key}]
    assert "optional" not in volume["secret"], "without callers the pod must wait"


def test_tokens_read_through_the_api_need_no_volume() -> None:
    rendered = hub("rollouts-everything")
    config = rendered.serve_config()
    assert config["auth"] == {"kubernetesSecret": {
        "namespace": "auspice-system", "name": "auspice-tokens", "key": "tokens.yaml"}}
    assert "tokens" not in volumes(rendered.one("Deployment"))


# ------------------------------------------------------------------------- probes, Service


@pytest.mark.parametrize(("name", "values"), HUB_CASES, ids=list(HUB))
def test_probes_ask_real_routes_on_the_serving_port(name: str, values: dict[str, Any]) -> None:
    rendered = render("auspice", values)
    container = main_container(rendered.one("Deployment"))
    routes = app_routes()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    expected = {"startupProbe": "/healthz", "livenessProbe": "/healthz",
                "readinessProbe": "/readyz"}
    for probe, path in expected.items():
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert ("GET", get["path"]) in routes, f"{probe}: no route {get['path']}"
        assert get["port"] in ports and ports[get["port"]] == rendered.serve_config()[
            "listen"]["port"]
        assert get["scheme"] == ("HTTPS" if "tls" in rendered.serve_config() else "HTTP")


def service_url(rendered: Rendered) -> tuple[str, str, int]:
    service = rendered.one("Service")
    [port] = service["spec"]["ports"]
    return service["metadata"]["name"], service["metadata"]["namespace"], port["port"]


def test_the_service_is_the_one_the_argo_and_flagger_examples_call() -> None:
    rendered = hub("defaults")
    name, namespace, port = service_url(rendered)
    assert (name, namespace, port) == ("auspice", "auspice-system", 8080)
    service = rendered.one("Service")
    pod = rendered.one("Deployment")["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] in {
        p["name"] for p in main_container(rendered.one("Deployment"))["ports"]}
    urls = [url for path in sorted((REPO / "examples").glob("*/*.yaml"))
            for url in re.findall(r"https?://[^\s\"']+", path.read_text())]
    calls = [urlsplit(url) for url in urls if "auspice" in urlsplit(url).netloc]
    assert calls, "the examples call no Auspice URL"
    for call in calls:
        labels = call.hostname.split(".")
        assert labels[:3] == [name, namespace, "svc"] and call.port == port, call.geturl()


def test_helm_test_calls_readyz_through_the_service() -> None:
    rendered = hub("callers")
    [pod] = rendered.of_kind("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    name, namespace, port = service_url(rendered)
    script = pod["spec"]["containers"][0]["command"][-1]
    assert f'"http://{name}.{namespace}.svc:{port}/readyz"' in script
    assert ("GET", "/readyz") in app_routes()
    policy = rendered.one("NetworkPolicy")
    allowed = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    assert any(peer.get("podSelector", {}).get("matchLabels", {}).items()
               <= pod["metadata"]["labels"].items() for peer in allowed if "podSelector" in peer)


@pytest.mark.parametrize("name", ["service-monitor", "rollouts-everything"])
def test_the_service_monitor_scrapes_metrics_of_the_service(name: str) -> None:
    rendered = hub(name)
    monitor = rendered.one("ServiceMonitor")
    service = rendered.one("Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"][
        "labels"].items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"][
        "namespace"]]
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert ("GET", endpoint["path"]) in app_routes() and endpoint["path"] == "/metrics"
    assert endpoint.get("scheme", "http") == ("https" if "tls" in rendered.serve_config()
                                              else "http")
    assert "ServiceMonitor" not in {o["kind"] for o in hub("callers").objects}


@pytest.mark.parametrize(("name", "values"), HUB_CASES, ids=list(HUB))
def test_pdb_and_network_policy_select_the_pods(name: str, values: dict[str, Any]) -> None:
    rendered = render("auspice", values)
    labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    pdb = rendered.one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1, "a single replica must not block a drain"
    policy = rendered.one("NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
    assert ports == ["http"]
    egress = values.get("networkPolicy", {}).get("egress")
    assert ("Egress" in policy["spec"]["policyTypes"]) == bool(egress)
    if egress:
        dns = policy["spec"]["egress"][0]["ports"]
        assert {"port": 53, "protocol": "UDP"} in dns


# ------------------------------------------------------------------------- RBAC


@pytest.mark.parametrize(("chart", "name", "values"), ALL_CASES, ids=ALL_IDS)
def test_rbac_has_no_wildcard_and_no_cluster_scope(
        chart: str, name: str, values: dict[str, Any]) -> None:
    rendered = render(chart, values)
    kinds = {obj["kind"] for obj in rendered.objects}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r
             for r in rendered.of_kind("Role")}
    for role in roles.values():
        assert role["rules"], role["metadata"]["name"]
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames",
                          "nonResourceURLs"):
                assert not any("*" in item for item in rule.get(field, [])), (field, rule)
            assert rule["verbs"] and rule["resources"], rule
            assert not set(rule["verbs"]) & {"escalate", "bind", "impersonate"}
    bindings = rendered.of_kind("RoleBinding")
    assert len(bindings) == len(roles)
    for binding in bindings:
        key = (binding["metadata"]["namespace"], binding["roleRef"]["name"])
        assert binding["roleRef"]["kind"] == "Role" and key in roles, key
        assert [s["kind"] for s in binding["subjects"]] == ["ServiceAccount"]


def role_rules(rendered: Rendered, suffix: str) -> list[dict[str, Any]]:
    [role] = [r for r in rendered.of_kind("Role") if r["metadata"]["name"].endswith(suffix)]
    return role["rules"]


def test_the_hub_binds_its_own_account_and_mounts_a_token_only_when_it_uses_the_api() -> None:
    plain = hub("callers").one("Deployment")["spec"]["template"]["spec"]
    assert plain["automountServiceAccountToken"] is False
    assert hub("callers").of_kind("Role") == []
    rendered = hub("rollouts-argocd")
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    account = rendered.one("ServiceAccount")["metadata"]
    assert pod["serviceAccountName"] == account["name"]
    for binding in rendered.of_kind("RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["name"],
                                        "namespace": account["namespace"]}]


def test_leader_election_gets_exactly_its_lease() -> None:
    for name in ("defaults", "callers", "rollouts-argocd"):
        assert not [r for r in hub(name).of_kind("Role")
                    if r["metadata"]["name"].endswith("leader-election")], name
    for name in ("ha", "ha-existing-secret", "rollouts-everything"):
        rendered = hub(name)
        env = {e["name"]: e for e in main_container(rendered.one("Deployment"))["env"]}
        lease = env["AUSPICE_LEADER_ELECTION_LEASE"]["value"]
        assert lease == "auspice-leader"
        assert env["AUSPICE_LEADER_ELECTION_NAMESPACE"]["valueFrom"]["fieldRef"][
            "fieldPath"] == "metadata.namespace"
        rules = role_rules(rendered, "leader-election")
        assert rules == [
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "resourceNames": [lease], "verbs": ["get", "update"]}]


# ------------------------------------------------------------------------- state


def test_one_replica_keeps_sqlite_on_the_claim_and_is_replaced_not_rolled() -> None:
    rendered = hub("defaults")
    deployment = rendered.one("Deployment")
    claim = rendered.one("PersistentVolumeClaim")
    config = rendered.serve_config()
    state = mount_for(main_container(deployment), config["store"]["path"])
    assert volumes(deployment)[state["name"]]["persistentVolumeClaim"]["claimName"] == claim[
        "metadata"]["name"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert "env" not in main_container(deployment)


@pytest.mark.parametrize(("name", "secret", "key"), [("ha", "auspice-state", "url"),
                                                     ("ha-existing-secret", "pg", "dsn")])
def test_ha_reads_the_state_url_from_a_secret(name: str, secret: str, key: str) -> None:
    rendered = hub(name)
    deployment = rendered.one("Deployment")
    env = {e["name"]: e for e in main_container(deployment)["env"]}
    reference = env["AUSPICE_STATE_URL"]["valueFrom"]["secretKeyRef"]
    assert reference == {"name": secret, "key": key}
    if name == "ha":
        assert rendered.one("Secret", secret)["stringData"][key] == HUB["ha"]["state"]["url"]
        assert HUB["ha"]["state"]["url"] not in yaml.safe_dump(deployment)
    else:
        assert [s["metadata"]["name"] for s in rendered.of_kind("Secret")] == []
    assert rendered.of_kind("PersistentVolumeClaim") == []
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["replicas"] == HUB[name]["replicaCount"]
    # today's ServeConfig still needs store.path; it lands on an emptyDir, not a shared file
    state = mount_for(main_container(deployment), rendered.serve_config()["store"]["path"])
    assert "emptyDir" in volumes(deployment)[state["name"]]


# ------------------------------------------------------------------------- the spoke chart


def test_the_spoke_account_token_and_roles() -> None:
    rendered = render("auspice-spoke", SPOKE["two-namespaces"], release="auspice-spoke")
    account = rendered.one("ServiceAccount")["metadata"]
    assert (account["name"], account["namespace"]) == ("auspice", "auspice-system")
    token = rendered.one("Secret")
    assert token["type"] == "kubernetes.io/service-account-token"
    assert token["metadata"]["annotations"]["kubernetes.io/service-account.name"] == "auspice"
    roles = {r["metadata"]["namespace"]: r for r in rendered.of_kind("Role")}
    assert set(roles) == {"shop", "payments"}
    assert roles["shop"]["rules"][0]["resourceNames"] == ["checkout"]
    assert "resourceNames" not in roles["payments"]["rules"][0]
    for binding in rendered.of_kind("RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "auspice",
                                        "namespace": "auspice-system"}]


def test_the_spoke_chart_can_bind_the_hub_account_for_an_in_cluster_target() -> None:
    rendered = render("auspice-spoke", SPOKE["bind-the-hub-account"], release="auspice-spoke",
                      namespace="auspice-system")
    assert {o["kind"] for o in rendered.objects} == {"Role", "RoleBinding"}
    [binding] = rendered.of_kind("RoleBinding")
    hub_account = hub("callers").one("ServiceAccount")["metadata"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": hub_account["name"],
                                    "namespace": hub_account["namespace"]}]


def gitops_examples() -> dict[str, dict[str, Any]]:
    return {f"{path.name}:{doc['metadata']['name']}": doc
            for path in sorted((REPO / "examples" / "gitops").glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text()) if doc}


def test_gitops_examples_install_both_charts_from_this_repository() -> None:
    charts = {}
    for doc in gitops_examples().values():
        spec = doc["spec"].get("template", {}).get("spec", doc["spec"])
        source = spec["source"]
        if source["path"].startswith("charts/"):
            assert (REPO / source["path"] / "Chart.yaml").exists(), source["path"]
            charts[Path(source["path"]).name] = (source["helm"], spec["destination"])
    assert set(charts) == {"auspice", "auspice-spoke"}
    for chart, (helm_settings, destination) in charts.items():
        assert destination["namespace"] == "auspice-system"
        # the values the examples pass render (schema included) into the Service of the docs
        rendered = render(chart, helm_settings["valuesObject"],
                          release=helm_settings["releaseName"], namespace="auspice-system")
        if chart == "auspice":
            assert service_url(rendered) == ("auspice", "auspice-system", 8080)
        else:
            assert rendered.of_kind("Role"), "the spoke example grants nothing"


def test_the_workload_example_keeps_the_weights_out_of_argo_cds_diff() -> None:
    """Next to the charts: the ignoreDifferences of docs/traffic.md, word for word."""
    [shop] = [d for d in gitops_examples().values() if d["metadata"]["name"] == "shop"]
    text = (REPO / "docs" / "traffic.md").read_text()
    expression = shop["spec"]["ignoreDifferences"][0]["jqPathExpressions"][0]
    assert expression in text
    assert set(shop["spec"]["syncPolicy"]["syncOptions"]) == {
        "RespectIgnoreDifferences=true", "ApplyOutOfSyncOnly=true"}
