"""The deployment tools for tests: real ``helm``, ``kubectl``, ``kubernetes-validate``,
``hadolint``.

No cluster runs here, so the charts are checked the way a platform team's CI would:
``helm lint --strict``, ``helm template`` piped to ``kubernetes-validate --strict``, and
tests that read the rendered objects; ``kubectl`` makes the Secrets docs/deploy.md has
you create, without a cluster. ``bash .ci/install-tools`` puts the tools in ``.ci/bin``
(not in git); a tool is looked up in the environment variable named for it
(``AUSPICE_HELM``, ``AUSPICE_KUBECTL``, ``AUSPICE_KUBERNETES_VALIDATE``,
``AUSPICE_HADOLINT``), then in ``.ci/bin``, then on PATH. Missing, the test skips with
the command that installs it, and under ``AUSPICE_REQUIRE_INTEGRATION=1`` it fails, like
:func:`require_binary` (whose "apt-get install" hint does not apply: none of these is a
Debian package).

:func:`load_serve_config` is the one place that reads a rendered serve configuration
with the service's own loader (so a rendered file is checked by the code that will
read it in the pod); repoint its import when the package layout moves.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.integration import integration_required

__all__ = [
    "CHARTS",
    "CI_BIN",
    "REPO",
    "Rendered",
    "app_routes",
    "helm",
    "kubectl_object",
    "load_serve_config",
    "render",
    "render_failure",
    "require_tool",
]

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
CI_BIN = REPO / ".ci" / "bin"

_ENV = {
    "helm": "AUSPICE_HELM",
    "kubernetes-validate": "AUSPICE_KUBERNETES_VALIDATE",
    "hadolint": "AUSPICE_HADOLINT",
    "kubectl": "AUSPICE_KUBECTL",
}


def require_tool(name: str) -> str:
    """The path of ``name``, or skip (fail under AUSPICE_REQUIRE_INTEGRATION=1)."""
    variable = _ENV.get(name, "AUSPICE_" + name.upper().replace("-", "_"))
    explicit = os.environ.get(variable)
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            pytest.fail(f"{variable}={explicit} is not an executable file")
        return found
    found = shutil.which(name, path=os.pathsep.join([str(CI_BIN), os.environ.get("PATH", "")]))
    if found is None:
        reason = (f"{name!r} is not installed: `bash .ci/install-tools` puts it in .ci/bin "
                  f"(or set {variable})")
        if integration_required():
            pytest.fail(f"AUSPICE_REQUIRE_INTEGRATION=1 but {reason}")
        pytest.skip(reason)
    return found


def _helm_environment(home: Path) -> dict[str, str]:
    """Helm's cache, config and data under ``home``: nothing of the user's is read or written."""
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def helm(*args: str, values: Mapping[str, Any] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``helm ARGS [-f values.yaml]``; the completed process, whatever its status."""
    binary = require_tool("helm")
    with tempfile.TemporaryDirectory(prefix="auspice-helm-") as scratch:
        home = Path(scratch)
        command = [binary, *args]
        if values is not None:
            path = home / "values.yaml"
            path.write_text(yaml.safe_dump(dict(values), sort_keys=False))
            command += ["-f", str(path)]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=_helm_environment(home), check=False)


def kubectl_object(*args: str, stdin: str | None = None, cwd: Path | None = None,
                   ) -> dict[str, Any]:
    """The object ``kubectl ARGS -o yaml`` prints, for commands that need no cluster
    (``create ... --dry-run=client``, ``label --local``); no kubeconfig is read."""
    binary = require_tool("kubectl")
    with tempfile.TemporaryDirectory(prefix="auspice-kubectl-") as home:
        environment = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
        done = subprocess.run([binary, *args, "-o", "yaml"], input=stdin, cwd=cwd,
                              capture_output=True, text=True, timeout=60, check=False,
                              env={**environment, "HOME": home})
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return yaml.safe_load(done.stdout)


@dataclass(frozen=True)
class Rendered:
    """``helm template`` output: the text and the objects in it."""

    text: str
    objects: tuple[dict[str, Any], ...]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = [obj for obj in self.of_kind(kind)
                 if name is None or obj["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def pod_specs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(what, pod spec) of every Deployment's template and every bare Pod (helm tests)."""
        for obj in self.objects:
            if obj["kind"] == "Deployment":
                yield f"Deployment {obj['metadata']['name']}", obj["spec"]["template"]["spec"]
            elif obj["kind"] == "Pod":
                yield f"Pod {obj['metadata']['name']}", obj["spec"]

    def serve_config(self) -> dict[str, Any]:
        """The serve configuration the hub chart's ConfigMap carries, parsed."""
        deployment = self.one("Deployment")
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        path = Path(args[args.index("--config") + 1])
        mount = _mount_of(deployment, path)
        volume = _volume(deployment, mount["name"])
        config_map = self.one("ConfigMap", volume["configMap"]["name"])
        return yaml.safe_load(config_map["data"][str(path.relative_to(mount["mountPath"]))])


def _mount_of(deployment: dict[str, Any], path: Path) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    for mount in container.get("volumeMounts", []):
        if path.is_relative_to(mount["mountPath"]):
            return mount
    raise AssertionError(f"{path} is on no volume of {deployment['metadata']['name']}")


def _volume(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
        if volume["name"] == name:
            return volume
    raise AssertionError(f"no volume {name!r}")


def _template_args(chart: str, release: str, namespace: str) -> list[str]:
    return ["template", release, str(CHARTS / chart), "--namespace", namespace]


@functools.cache
def _render_cached(chart: str, values_yaml: str, release: str, namespace: str) -> Rendered:
    done = helm(*_template_args(chart, release, namespace), values=yaml.safe_load(values_yaml))
    if done.returncode != 0:
        raise AssertionError(f"helm template {chart} failed:\n{done.stderr}")
    objects = tuple(obj for obj in yaml.safe_load_all(done.stdout) if obj)
    return Rendered(done.stdout, objects)


def render(chart: str, values: Mapping[str, Any] | None = None, *, release: str = "auspice",
           namespace: str = "auspice-system") -> Rendered:
    """``helm template RELEASE charts/CHART -n NAMESPACE -f values`` (cached per arguments)."""
    return _render_cached(chart, yaml.safe_dump(dict(values or {})), release, namespace)


def render_failure(chart: str, values: Mapping[str, Any], *, release: str = "auspice",
                   namespace: str = "auspice-system") -> str:
    """The error of a ``helm template`` that must fail; an AssertionError if it renders."""
    done = helm(*_template_args(chart, release, namespace), values=values)
    assert done.returncode != 0, f"helm template {chart} rendered values it must refuse: {values}"
    return done.stderr


def load_serve_config(path: Path) -> Any:
    """The :class:`ServeConfig` in ``path``, read by the service's own loader."""
    from auspice.specs.serve import load_config

    return load_config(path)


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of the service's operations routes (/healthz, /readyz, /metrics...)."""
    from aiohttp import web

    from auspice.webhooks import ops

    app = web.Application()
    ops.add_routes(app)
    return {(route.method, route.resource.canonical) for route in app.router.routes()
            if route.resource is not None}
