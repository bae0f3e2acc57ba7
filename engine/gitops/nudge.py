"""Telling Argo CD or Flux to look at the repository now instead of at its next poll.

A revert only removes the release once the GitOps controller syncs the new commit,
which by default happens on a poll (Argo CD: about every 3 minutes; Flux: the
object's ``interval``). Both controllers accept a request to refresh sooner through
an annotation on their own objects in the hub cluster:

* Argo CD ``Application``: ``argocd.argoproj.io/refresh: normal`` (or ``hard``, which also
  drops the manifest cache). The application controller removes the annotation once
  it has refreshed.
* Flux ``GitRepository`` / ``Kustomization`` / ``HelmRelease``:
  ``reconcile.fluxcd.io/requestedAt: <token>``. Any new value triggers a reconcile;
  the controller echoes it in ``status.lastHandledReconcileAt``. List the
  ``GitRepository`` first so the source is fetched before the ``Kustomization`` runs.

The patch is a JSON merge patch that only touches that one annotation, so it cannot
clobber anything else on the object. This is optional and off by default: it needs
RBAC to patch those objects in the hub cluster, and the revert is durable without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes.aio.client import ApiClient, CustomObjectsApi
from kubernetes.aio.client.exceptions import ApiException

from ..clock import Clock
from ..errors import ClusterError
from ..specs.targets import NudgeTarget

__all__ = ["ControllerNudge", "NudgeTarget", "nudge_controllers", "nudge_patch"]

ARGO_REFRESH = "argocd.argoproj.io/refresh"
FLUX_REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class ControllerNudge:
    """Where to nudge: the hub cluster's API client and the objects to annotate."""

    api_client: ApiClient
    targets: Sequence[NudgeTarget]
    timeout_seconds: float = 10.0
    field_manager: str = field(default="auspice")


def nudge_patch(target: NudgeTarget, *, now: float) -> dict[str, Any]:
    """The merge-patch body for ``target`` at time ``now`` (seconds since the epoch)."""
    if target.kind == "Application":
        value = "hard" if target.hard_refresh else "normal"
        return {"metadata": {"annotations": {ARGO_REFRESH: value}}}
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"metadata": {"annotations": {FLUX_REQUESTED_AT: stamp}}}


async def nudge_controllers(nudge: ControllerNudge, *, clock: Clock) -> list[str]:
    """Annotate every target in order; returns what was nudged, raises if any failed."""
    api = CustomObjectsApi(nudge.api_client)
    done: list[str] = []
    failed: list[str] = []
    for target in nudge.targets:
        group, version, plural = target.resource()
        try:
            async with asyncio.timeout(nudge.timeout_seconds):
                await api.patch_namespaced_custom_object(
                    group, version, target.namespace, plural, target.name,
                    nudge_patch(target, now=clock.now()),
                    field_manager=nudge.field_manager,
                    _content_type=MERGE_PATCH,
                    _request_timeout=nudge.timeout_seconds,
                )
        except ApiException as error:
            failed.append(f"{target.describe()}: HTTP {error.status} {error.reason}")
        except (TimeoutError, OSError, aiohttp.ClientError) as error:
            failed.append(f"{target.describe()}: {type(error).__name__} {error}".strip())
        else:
            done.append(target.describe())
    if failed:
        raise ClusterError(
            "could not nudge the GitOps controller in the hub cluster: " + "; ".join(failed),
            hint="the revert is pushed and the controller will pick it up on its next poll; "
            "check that Auspice may patch these objects (RBAC verb patch)",
        )
    return done
