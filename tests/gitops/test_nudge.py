"""The optional Argo CD / Flux nudge, through the real kubernetes.aio client and test API server."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.aio.client import ApiClient
from support.git.repos import RecordingClock, Remote, spec
from support.hub import APPLICATION, HELM_RELEASE, KUSTOMIZATION, TARGETS, annotations_of
from support.kube import KubeApiServer

from auspice.gitops import ControllerNudge, RevertReason, RevertStatus, nudge_patch, revert_release
from auspice.specs.targets import NudgeTarget


def test_patch_bodies_follow_each_controllers_annotation() -> None:
    argo = nudge_patch(TARGETS[0], now=0.0)
    hard = nudge_patch(NudgeTarget(kind="Application", name="a", namespace="argocd",
                                   hardRefresh=True), now=0.0)
    flux = nudge_patch(TARGETS[1], now=1_718_000_000.123456)

    assert argo == {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "normal"}}}
    assert hard == {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}}
    assert flux == {"metadata": {"annotations": {
        "reconcile.fluxcd.io/requestedAt": "2024-06-10T06:13:20.123456Z"}}}


def test_target_resources_and_validation() -> None:
    assert TARGETS[0].resource() == ("argoproj.io", "v1alpha1", "applications")
    assert NudgeTarget(kind="GitRepository", name="c", namespace="flux-system").resource() == (
        "source.toolkit.fluxcd.io", "v1", "gitrepositories")
    old = NudgeTarget(kind="GitRepository", name="c", namespace="flux-system",
                      apiVersion="source.toolkit.fluxcd.io/v1beta2")
    assert old.resource() == ("source.toolkit.fluxcd.io", "v1beta2", "gitrepositories")
    with pytest.raises(ValueError, match="only applies to an Argo CD Application"):
        NudgeTarget(kind="Kustomization", name="a", namespace="f", hardRefresh=True)
    with pytest.raises(ValueError, match="Extra inputs"):
        NudgeTarget.model_validate({"kind": "Application", "name": "a", "namespace": "b",
                                    "refresh": "hard"})


async def test_a_pushed_revert_nudges_argo_cd_and_flux_with_merge_patches(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    hub: KubeApiServer, hub_client: ApiClient,
) -> None:
    clock = RecordingClock()

    outcome = await revert_release(
        repo=spec(remote), commit=release["release"], reason=reason, rollout_id="r-9",
        cache_dir=cache_dir, clock=clock,
        nudge=ControllerNudge(api_client=hub_client, targets=TARGETS),
    )

    assert outcome.status is RevertStatus.PUSHED
    assert outcome.nudged == ("Application argocd/checkout", "Kustomization flux-system/apps",
                              "HelmRelease flux-system/checkout")
    assert outcome.nudge_error is None
    assert annotations_of(hub, APPLICATION) == {"team": "payments",
                                             "argocd.argoproj.io/refresh": "normal"}
    stamp = "2023-11-14T22:13:20.000000Z"  # the RecordingClock's now()
    assert annotations_of(hub, KUSTOMIZATION) == {"reconcile.fluxcd.io/requestedAt": stamp}
    assert annotations_of(hub, HELM_RELEASE) == {"reconcile.fluxcd.io/requestedAt": stamp}
    assert hub.get(APPLICATION)["spec"] == APPLICATION["spec"]
    assert hub.count("PATCH") == 3


async def test_a_failed_nudge_is_reported_but_the_revert_stands(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    hub: KubeApiServer, hub_client: ApiClient,
) -> None:
    hub.forbid("patch", "applications")
    missing = NudgeTarget(kind="Kustomization", name="nope", namespace="flux-system")

    outcome = await revert_release(
        repo=spec(remote), commit=release["release"], reason=reason, rollout_id="r-9",
        cache_dir=cache_dir,
        nudge=ControllerNudge(api_client=hub_client, targets=(TARGETS[0], missing, TARGETS[1])),
    )

    assert outcome.status is RevertStatus.PUSHED
    assert remote.head() == outcome.revert_commit
    assert outcome.nudge_error is not None
    assert "Application argocd/checkout: HTTP 403" in outcome.nudge_error
    assert "Kustomization flux-system/nope: HTTP 404" in outcome.nudge_error
    assert "next poll" in outcome.nudge_error
    assert "reconcile.fluxcd.io/requestedAt" in annotations_of(hub, KUSTOMIZATION)


async def test_no_nudge_when_nothing_was_pushed(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    hub: KubeApiServer, hub_client: ApiClient,
) -> None:
    await revert_release(repo=spec(remote), commit=release["release"], reason=reason,
                         rollout_id="r-9", cache_dir=cache_dir)
    again = await revert_release(
        repo=spec(remote), commit=release["release"], reason=reason, rollout_id="r-9",
        cache_dir=cache_dir, nudge=ControllerNudge(api_client=hub_client, targets=TARGETS),
    )

    assert again.status is RevertStatus.ALREADY_REVERTED
    assert again.nudged == ()
    assert hub.count("PATCH") == 0
