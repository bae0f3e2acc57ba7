"""The charts pass ``helm lint --strict`` and their manifests the Kubernetes schemas;
the values schema and the chart's own checks refuse what the service would refuse;
the Dockerfile passes hadolint and builds the image the chart expects."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.chart_values import CALLERS, HUB, SPOKE
from support.helm import CHARTS, REPO, helm, render, render_failure, require_tool

CASES = [("auspice", name, values) for name, values in HUB.items()] + [
    ("auspice-spoke", name, values) for name, values in SPOKE.items()]
IDS = [f"{chart}:{name}" for chart, name, _ in CASES]

#: The chart's minimum (Chart.yaml kubeVersion) and the newest schemas the validator has.
KUBERNETES_VERSIONS = ["1.27.0", "1.37.0"]
#: Custom resources whose schemas kubernetes-validate does not ship.
CRDS = {"ServiceMonitor"}


@pytest.mark.parametrize(("chart", "name", "values"), CASES, ids=IDS)
def test_helm_lint_strict(chart: str, name: str, values: dict[str, Any]) -> None:
    done = helm("lint", "--strict", str(CHARTS / chart), values=values)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout
    assert "[WARNING]" not in done.stdout and "[ERROR]" not in done.stdout, done.stdout


def validate(text: str, version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("kubernetes-validate"), "--strict", "--quiet", "-k", version, "-"],
        input=text, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("chart", "name", "values"), CASES, ids=IDS)
def test_rendered_manifests_pass_kubernetes_validate_strict(
        chart: str, name: str, values: dict[str, Any], version: str) -> None:
    rendered = render(chart, values)
    done = validate(rendered.text, version)
    assert done.returncode == 0, done.stdout + done.stderr
    # every object was checked against a schema, except the known custom resources
    unchecked = re.findall(r"Couldn't find schema for kind (\w+)", done.stdout + done.stderr)
    assert set(unchecked) <= CRDS, done.stdout
    kinds = {obj["kind"] for obj in rendered.objects}
    assert set(unchecked) == kinds & CRDS


def test_kubernetes_validate_refuses_an_unknown_field() -> None:
    """The validator is strict here: the test above would catch a misspelled field."""
    deployment = render("auspice", HUB["callers"]).one("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    done = validate(yaml.safe_dump(deployment), KUBERNETES_VERSIONS[-1])
    assert done.returncode != 0
    assert "readinessprobe" in done.stdout + done.stderr


@pytest.mark.parametrize(("values", "words"), [
    ({"replicaCount": 2, "tokens": {"callers": CALLERS}}, "/state"),
    ({"replicaCount": 2, "state": {"url": "mysql://db/auspice"}}, "/state/url"),
    ({"state": {"url": "sqlite:///var/lib/auspice/state.db"}}, "/state/url"),
    ({"config": {"store": {"path": "/data/state.db"}, "prometheus": {"url": "http://p:9090"}}},
     "store"),
    ({"config": {"listen": {"port": 80}, "prometheus": {"url": "http://p:9090"}}}, "listen"),
    ({"config": {"prometheus": {"url": None}}}, "url"),  # null removes the default
    ({"securityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRootFilesystem"),
    ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
    ({"tokens": {"callers": [{"name": "argo", "role": "judge", "token": "short"}]}}, "token"),
    ({"tokens": {"callers": [{"name": "argo", "role": "admin", "token": "x" * 20}]}}, "role"),
    ({"replicas": 2}, "replicas"),
    ({"rollouts": {"git": {"auth": "ssh"}}}, "existingSecret"),
    ({"rollouts": {"nudge": [{"apiGroup": "*", "resource": "applications",
                              "namespace": "argocd"}]}}, "apiGroup"),
    ({"containerPort": 80}, "containerPort"),
], ids=lambda v: str(v)[:60] if isinstance(v, dict) else v)
def test_the_values_schema_refuses(values: dict[str, Any], words: str) -> None:
    error = render_failure("auspice", values)
    assert "schema" in error, error
    assert words in error, error


@pytest.mark.parametrize(("values", "words"), [
    ({"tokens": {"existingSecret": "mine", "callers": CALLERS}}, "choose one"),
    ({"rollouts": {"enabled": True}}, "needs a cluster source"),
    ({"rollouts": {"enabled": True,
                   "clusters": {"kubeconfig": {"contexts": {"a": {"labels": {}}}},
                                "inCluster": {"enabled": True}}}},
     "contexts needs rollouts.clusters.kubeconfig.existingSecret"),
], ids=["tokens-twice", "rollouts-without-clusters", "labels-without-kubeconfig"])
def test_the_chart_refuses_what_the_service_would(values: dict[str, Any], words: str) -> None:
    assert words in render_failure("auspice", values)


@pytest.mark.parametrize(("values", "words"), [
    ({"targets": [{"namespace": "*"}]}, "namespace"),
    ({"targets": [{"namespace": "shop", "virtualServices": ["*"]}]}, "virtualServices"),
    ({"serviceAccount": {"create": False, "name": "auspice"}}, "token"),
    ({"targets": [{"namespace": "shop", "verbs": ["*"]}]}, "verbs"),
], ids=["wildcard-namespace", "wildcard-name", "token-for-a-foreign-account", "extra-verbs"])
def test_the_spoke_schema_refuses(values: dict[str, Any], words: str) -> None:
    error = render_failure("auspice-spoke", values)
    assert "schema" in error and words in error, error


# ---------------------------------------------------------------------------- Dockerfile

DOCKERFILE = REPO / "Dockerfile"


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("hadolint"), "--failure-threshold", "style", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_dockerfile_passes_hadolint() -> None:
    done = hadolint(DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_refuses_a_careless_dockerfile(tmp_path: Path) -> None:
    """The check above can fail: hadolint flags an unpinned base and a root image."""
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python\nRUN apt-get update && apt-get install -y git\n"
                        "RUN pip install auspice\n")
    done = hadolint(careless)
    assert done.returncode != 0
    assert {"DL3006", "DL3008", "DL3013"} <= set(re.findall(r"DL\d{4}", done.stdout))


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def test_the_image_is_what_the_chart_expects() -> None:
    """Multi-stage, pinned base, numeric non-root user (the chart's runAsUser),
    git and ssh inside, `auspice serve` as entrypoint with the chart's config path."""
    instructions = dockerfile_instructions()
    args = dict(rest.split("=", 1) for keyword, rest in instructions if keyword == "ARG"
                and "=" in rest)
    bases = [rest.split()[0] for keyword, rest in instructions if keyword == "FROM"]
    assert len(bases) >= 2, "a build stage and a runtime stage"
    base = args.get("PYTHON_IMAGE", "")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert all(b == "${PYTHON_IMAGE}" for b in bases)

    final = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM"):]
    user = [rest for keyword, rest in final if keyword == "USER"]
    assert len(user) == 1 and re.fullmatch(r"\d+:\d+", user[0]), user
    uid, gid = (int(part) for part in user[0].split(":"))
    assert uid != 0 and gid != 0
    pod = render("auspice", HUB["callers"]).one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == uid
    assert pod["securityContext"]["runAsGroup"] == gid

    runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    assert re.search(r"apt-get install .*\bgit\b", runs) and "openssh-client" in runs
    assert "rm -rf /var/lib/apt/lists/*" in runs

    entrypoint = yaml.safe_load(next(rest for keyword, rest in final if keyword == "ENTRYPOINT"))
    command = yaml.safe_load(next(rest for keyword, rest in final if keyword == "CMD"))
    assert entrypoint[-2:] == ["auspice", "serve"]
    container = pod["containers"][0]
    assert "command" not in container, "the chart runs the image's entrypoint"
    assert command[0] == container["args"][0] == "--config"
    assert command[1] == container["args"][1]


def test_the_image_context_has_what_pip_install_needs() -> None:
    """The COPY lines bring every package directory pyproject.toml maps, and
    .dockerignore lets exactly those through."""
    sources = {source.rstrip("/")
               for keyword, rest in dockerfile_instructions()
               if keyword == "COPY" and not rest.startswith("--from")
               for source in rest.split()[:-1]}
    allowed = {line.strip()[1:].rstrip("/")
               for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip().startswith("!")}
    pyproject = (REPO / "pyproject.toml").read_text()
    packages = set(re.findall(r'"auspice[.\w]*" = "(\w+)"', pyproject))
    assert packages == {"engine", "webhooks", "analyses"}, packages
    assert sources == packages | {"pyproject.toml", "README.md"}
    assert allowed == sources
    for source in sources:
        assert (REPO / source).exists(), source
