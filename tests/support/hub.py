"""Argo CD and Flux objects in a hub cluster, for the nudge after a revert."""

from __future__ import annotations

from typing import Any

from auspice.specs.targets import NudgeTarget
from support.kube import KubeApiServer

APPLICATION = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Application",
    "metadata": {"name": "checkout", "namespace": "argocd",
                 "annotations": {"team": "payments"}},
    "spec": {"project": "default",
             "source": {"repoURL": "https://git.example/config.git", "path": "apps/checkout"}},
}


KUSTOMIZATION = {
    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
    "kind": "Kustomization",
    "metadata": {"name": "apps", "namespace": "flux-system"},
    "spec": {"interval": "10m", "path": "./apps", "prune": True},
}


HELM_RELEASE = {
    "apiVersion": "helm.toolkit.fluxcd.io/v2",
    "kind": "HelmRelease",
    "metadata": {"name": "checkout", "namespace": "flux-system"},
    "spec": {"interval": "5m", "chart": {"spec": {"chart": "checkout"}}},
}


TARGETS = (
    NudgeTarget(kind="Application", name="checkout", namespace="argocd"),
    NudgeTarget(kind="Kustomization", name="apps", namespace="flux-system"),
    NudgeTarget(kind="HelmRelease", name="checkout", namespace="flux-system"),
)


def annotations_of(server: KubeApiServer, obj: dict[str, Any]) -> dict[str, str]:
    return dict(server.get(obj)["metadata"].get("annotations", {}))
