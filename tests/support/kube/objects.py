"""Objects the tests seed into clusters (VirtualServices, DestinationRules, Secrets, Argo
CD cluster Secrets), readers of what a cluster holds, and a kubeconfig for a set of
test servers."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import certifi
import yaml

from support.kube.errors import JSON
from support.kube.server import KubeApiServer

__all__ = [
    "CA_BUNDLE",
    "CLUSTER_LABEL",
    "SAMPLE_NAME",
    "SAMPLE_NAMESPACE",
    "argocd_secret",
    "destination_rule",
    "secret",
    "strip_weights",
    "virtual_service",
    "weights_in",
    "write_kubeconfig",
]

SAMPLE_NAMESPACE = "shop"
SAMPLE_NAME = "checkout"


def virtual_service(
    *,
    canary: int = 0,
    subsets: bool = True,
    api_version: str = "networking.istio.io/v1",
    extra_routes: bool = True,
) -> dict[str, Any]:
    """A VirtualService with a weighted 'primary' route and routes Auspice must not touch."""

    def destination(version: str) -> dict[str, Any]:
        if subsets:
            return {"host": "checkout", "subset": version, "port": {"number": 8080}}
        return {"host": f"checkout-{version}", "port": {"number": 8080}}

    http: list[dict[str, Any]] = []
    if extra_routes:
        http.append(
            {
                "name": "debug",
                "match": [{"headers": {"x-debug": {"exact": "1"}}}],
                "route": [{"destination": destination("canary"), "weight": 100}],
            }
        )
    http.append(
        {
            "name": "primary",
            "retries": {"attempts": 3, "perTryTimeout": "2s"},
            "route": [
                {"destination": destination("stable"), "weight": 100 - canary},
                {"destination": destination("canary"), "weight": canary},
            ],
        }
    )
    if extra_routes:
        http.append({"name": "legacy", "route": [{"destination": {"host": "legacy"}}]})
    return {
        "apiVersion": api_version,
        "kind": "VirtualService",
        "metadata": {
            "name": SAMPLE_NAME,
            "namespace": SAMPLE_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "argocd"},
        },
        "spec": {"hosts": ["checkout"], "gateways": ["mesh"], "http": http},
    }


def destination_rule(subsets: tuple[str, ...] = ("stable", "canary")) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": "checkout", "namespace": SAMPLE_NAMESPACE},
        "spec": {
            "host": "checkout",
            "subsets": [{"name": s, "labels": {"version": s}} for s in subsets],
        },
    }


def weights_in(server: KubeApiServer, route: str = "primary") -> tuple[int, int]:
    """(stable, canary) as stored in the server."""
    stored = server.get(virtual_service())
    for entry in stored["spec"]["http"]:
        if entry.get("name") == route:
            return entry["route"][0]["weight"], entry["route"][1]["weight"]
    raise AssertionError(f"no route {route}")


def strip_weights(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without metadata bookkeeping and without the primary route's weights."""
    obj = copy.deepcopy(obj)
    for key in ("resourceVersion", "generation"):
        obj["metadata"].pop(key, None)
    for entry in obj["spec"]["http"]:
        if entry.get("name") == "primary":
            for destination in entry["route"]:
                destination.pop("weight", None)
    return obj


def write_kubeconfig(
    servers: Iterable[KubeApiServer], path: Path, *, current: str | None = None
) -> Path:
    """Write a kubeconfig with one context (named like the server) per server."""
    clusters, users, contexts = [], [], []
    for server in servers:
        cluster, user, context = server.kubeconfig_entry()
        clusters.append(cluster)
        users.append(user)
        contexts.append(context)
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": users,
        "contexts": contexts,
        "current-context": current or (contexts[0]["name"] if contexts else ""),
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def secret(
    name: str, namespace: str, data: dict[str, str], *, labels: dict[str, str] | None = None
) -> JSON:
    """A core v1 Secret whose ``data`` values are base64-encoded from the given strings."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


CA_BUNDLE = Path(certifi.where()).read_bytes()  # any valid PEM bundle will do


CLUSTER_LABEL = {"argocd.argoproj.io/secret-type": "cluster"}


def argocd_secret(name: str, server: str, config: dict[str, Any] | str, **labels: str) -> dict:
    text = config if isinstance(config, str) else json.dumps(config)
    return secret(
        f"cluster-{name}",
        "argocd",
        {"name": name, "server": server, "config": text},
        labels={**CLUSTER_LABEL, **labels},
    )
