"""A RolloutPlan's revert options reach git: ``rangeRevert`` and ``nudge``, through the
orchestrator's :class:`~auspice.rollout_run.GitReverter`, with real git and the real
kubernetes.aio client against the API test server as the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes.aio.client import ApiClient
from support.git.repos import RecordingClock, Remote
from support.hub import APPLICATION, KUSTOMIZATION, annotations_of
from support.kube import KubeApiServer

from auspice.demos.rollout import demo_plan
from auspice.errors import ClusterError, ConfigError, GitOpsError
from auspice.gitops import RevertConflict, RevertReason, RevertStatus, SshKeyAuth
from auspice.rollouts.reverter import GitReverter
from auspice.specs import SpecError
from auspice.specs.plan import RolloutPlan, plan_from_data

NUDGE = [{"kind": "Application", "namespace": "argocd", "name": "checkout"},
         {"kind": "Kustomization", "namespace": "flux-system", "name": "apps"}]


def plan(remote: Remote, sha: str, **options: Any) -> RolloutPlan:
    """The demo's plan on ``remote`` and ``sha``, with ``options`` as a user writes them."""
    data = demo_plan(repository=remote.url, sha=sha).to_data()
    data["spec"]["options"].update(options)
    return plan_from_data(data, source="test plan")


def reverter(cache_dir: Path, **fields: Any) -> GitReverter:
    return GitReverter(cache_dir=cache_dir, clock=RecordingClock(), **fields)


async def test_range_revert_is_off_unless_the_plan_allows_it(
    remote: Remote, conflicting: dict[str, str], cache_dir: Path,
    reason: RevertReason,
) -> None:
    head = remote.head()
    with pytest.raises(RevertConflict):
        await reverter(cache_dir)(plan=plan(remote, conflicting["release2"]),
                                  rollout_id="r-1", reason=reason)
    assert remote.head() == head

    outcome = await reverter(cache_dir)(
        plan=plan(remote, conflicting["release2"], rangeRevert=True), rollout_id="r-1",
        reason=reason)

    assert outcome.status is RevertStatus.PUSHED and outcome.mode == "range"
    assert outcome.reverted_commits == (conflicting["hotfix"], conflicting["release2"])
    assert remote.parents() == [head]


async def test_the_plan_names_what_to_nudge_and_the_service_how_to_reach_the_hub(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
    hub: KubeApiServer, hub_client: ApiClient,
) -> None:
    async def connect() -> ApiClient:
        return hub_client

    outcome = await reverter(cache_dir, hub_client=connect)(
        plan=plan(remote, release["release"], nudge=NUDGE), rollout_id="r-2", reason=reason)

    assert outcome.status is RevertStatus.PUSHED
    assert outcome.nudged == ("Application argocd/checkout", "Kustomization flux-system/apps")
    assert annotations_of(hub, APPLICATION)["argocd.argoproj.io/refresh"] == "normal"
    assert "reconcile.fluxcd.io/requestedAt" in annotations_of(hub, KUSTOMIZATION)


async def test_a_nudge_without_a_hub_is_reported_and_the_revert_still_lands(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
) -> None:
    outcome = await reverter(cache_dir)(
        plan=plan(remote, release["release"], nudge=NUDGE), rollout_id="r-3", reason=reason)

    assert outcome.status is RevertStatus.PUSHED
    assert remote.head() == outcome.revert_commit
    assert outcome.nudged == ()
    assert outcome.nudge_error is not None and "rollouts.hub" in outcome.nudge_error


async def test_no_nudge_asked_means_no_hub_call(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
) -> None:
    async def connect() -> ApiClient:
        raise AssertionError("the hub must not be contacted when the plan asks no nudge")

    outcome = await reverter(cache_dir, hub_client=connect)(
        plan=plan(remote, release["release"]), rollout_id="r-4", reason=reason)

    assert outcome.status is RevertStatus.PUSHED
    assert (outcome.nudged, outcome.nudge_error) == ((), None)


@pytest.mark.parametrize(("target", "field", "words"), [
    ({"kind": "Kustomization", "namespace": "f", "name": "a", "hardRefresh": True},
     "hardRefresh", "Argo CD Application"),
    ({"kind": "Deployment", "namespace": "f", "name": "a"}, "kind", "Application"),
    ({"kind": "Application", "namespace": "f", "name": "a", "hard_refresh": True},
     "hard_refresh", "did you mean 'hardRefresh'"),
])
def test_a_wrong_nudge_target_names_its_field(
    remote: Remote, release: dict[str, str], target: dict[str, Any], field: str, words: str,
) -> None:
    with pytest.raises(SpecError) as caught:
        plan(remote, release["release"], nudge=[target])
    text = str(caught.value)
    assert "nudge" in text and field in text and words in text, text


async def test_a_hub_that_cannot_be_reached_costs_the_nudge_not_the_revert(
    remote: Remote, release: dict[str, str], cache_dir: Path, reason: RevertReason,
) -> None:
    async def unreachable() -> ApiClient:
        raise ClusterError("cluster 'hub': in-cluster configuration is missing (not in a pod)")

    outcome = await reverter(cache_dir, hub_client=unreachable)(
        plan=plan(remote, release["release"], nudge=NUDGE), rollout_id="r-5", reason=reason)

    assert outcome.status is RevertStatus.PUSHED and remote.head() == outcome.revert_commit
    assert outcome.nudge_error is not None
    assert "hub cluster cannot be reached" in outcome.nudge_error
    assert "not in a pod" in outcome.nudge_error


@pytest.mark.parametrize(("repository", "branch", "words"), [
    ("https://git.example/config.git", "main", "auth"),
    ("git@git.example:config.git", "refs/heads/main", "branch"),
])
def test_a_release_the_service_could_not_revert_is_refused_when_the_plan_starts(
    remote: Remote, release: dict[str, str], tmp_path: Path, repository: str, branch: str,
    words: str,
) -> None:
    """An https repository with the service's SSH key, or a branch git would refuse:
    found when the rollout starts (a 422 on the API), not when the revert is needed."""
    data = plan(remote, release["release"]).to_data()
    data["spec"]["release"].update(repository=repository, branch=branch)
    ssh = {"auth": SshKeyAuth(key_file=tmp_path / "id_ed25519")}
    with pytest.raises(ConfigError) as caught:
        reverter(tmp_path, repo_options=ssh).check(plan_from_data(data, source="test plan"))
    assert repository in str(caught.value) and words in str(caught.value), caught.value


async def test_a_release_that_became_unrevertable_fails_as_a_gitops_error(
    remote: Remote, release: dict[str, str], tmp_path: Path, reason: RevertReason,
) -> None:
    """After a restart with other git settings: a GitOpsError, which the orchestrator
    records as a failed revert (traffic rollback stands), never an unexpected crash."""
    ssh = {"auth": SshKeyAuth(key_file=tmp_path / "id_ed25519")}
    data = plan(remote, release["release"]).to_data()
    data["spec"]["release"]["repository"] = "https://git.example/config.git"
    with pytest.raises(GitOpsError, match="cannot be reverted with this service's git"):
        await reverter(tmp_path, repo_options=ssh)(
            plan=plan_from_data(data, source="test plan"), rollout_id="r-6", reason=reason)
