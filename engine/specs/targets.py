"""Where a plan acts: the Istio routes that carry the canary, and the GitOps objects to nudge.

Both are written by users inside a RolloutPlan (``spec.service``, ``spec.options.nudge``),
so they are strict camelCase models like every other plan field. The code that acts on
them lives with the clients: :class:`auspice.traffic.istio.IstioRouter` and
:class:`auspice.gitops.nudge.ControllerNudge`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from auspice.specs.base import UserModel

__all__ = ["Destination", "IstioTarget", "NudgeTarget"]

class Destination(UserModel):
    """A ``route[].destination``: a host, and a DestinationRule subset for subset routing."""

    host: str = Field(min_length=1)
    subset: str | None = Field(default=None, min_length=1)

    def matches(self, destination: Any) -> bool:
        if not isinstance(destination, dict):
            return False
        return destination.get("host") == self.host and destination.get("subset") == self.subset

    def __str__(self) -> str:
        return f"{self.host} subset {self.subset}" if self.subset else self.host


class IstioTarget(UserModel):
    """Which VirtualService routes carry the canary, in every cluster of a rollout.

    In YAML (camelCase keys)::

        namespace: shop
        virtualService: checkout
        routes: [primary]
        stable: {host: checkout, subset: stable}
        canary: {host: checkout, subset: canary}
        apiVersion: v1          # v1beta1 for Istio older than 1.22
    """

    namespace: str = Field(min_length=1)
    virtual_service: str = Field(min_length=1)
    routes: list[str] = Field(
        default_factory=list,
        description="names of the HTTP routes to weight; empty: every HTTP route that "
        "carries both destinations (at least one must)",
    )
    stable: Destination
    canary: Destination
    api_version: Literal["v1", "v1beta1"] = "v1"

    def where(self, *routes: str) -> str:
        """Where in a cluster something is, for error messages: namespace, VirtualService
        and, when given, the route(s), so that a reader can go straight to the YAML."""
        text = f"namespace {self.namespace!r}, VirtualService {self.virtual_service!r}"
        if len(routes) == 1:
            return text + f", route {routes[0]!r}"
        if routes:
            return text + ", routes " + ", ".join(repr(route) for route in routes)
        return text


_API = {
    "Application": ("argoproj.io", "v1alpha1", "applications"),
    "GitRepository": ("source.toolkit.fluxcd.io", "v1", "gitrepositories"),
    "Kustomization": ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
    "HelmRelease": ("helm.toolkit.fluxcd.io", "v2", "helmreleases"),
}


class NudgeTarget(UserModel):
    """One controller object in the hub cluster to annotate after a revert.

    Written by users in a RolloutPlan (``options.nudge``), so it is strict and camelCase
    like every other plan field.
    """

    kind: Literal["Application", "GitRepository", "Kustomization", "HelmRelease"]
    name: str = Field(min_length=1, max_length=253)
    namespace: str = Field(min_length=1, max_length=63)
    api_version: str | None = Field(
        default=None,
        description="group/version override for older controllers, "
        "e.g. source.toolkit.fluxcd.io/v1beta2",
    )
    hard_refresh: bool = Field(default=False, description="Argo CD only: refresh=hard.")

    @model_validator(mode="after")
    def _hard_only_for_argo(self) -> NudgeTarget:
        if self.hard_refresh and self.kind != "Application":
            raise ValueError("hardRefresh only applies to an Argo CD Application")
        if self.api_version is not None and self.api_version.count("/") != 1:
            raise ValueError("apiVersion must be group/version")
        return self

    def resource(self) -> tuple[str, str, str]:
        """``(group, version, plural)`` of this object."""
        group, version, plural = _API[self.kind]
        if self.api_version is not None:
            group, version = self.api_version.split("/")
        return group, version, plural

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


