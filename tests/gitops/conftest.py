"""Real git for the GitOps tests: bare remotes in a temp dir, helper clones, racing pushers.

Every test gets its own global git config (no developer settings leak in), a bare
"remote" repository seeded with a small GitOps layout, and a ``git`` wrapper that can
push from another clone just before Auspice's push (a real concurrent pusher, landing
between Auspice's fetch and its push). The helpers themselves live in gitrepos.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubernetes.aio.client import ApiClient
from support.git.repos import (
    DEPLOYMENT,
    DEPLOYMENT_FILE,
    FLAGS_FILE,
    RacingGit,
    RecordingClock,
    Remote,
)
from support.hub import APPLICATION, HELM_RELEASE, KUSTOMIZATION
from support.kube import KubeApiServer, kube_api_servers

from auspice.gitops import RevertReason


@pytest.fixture(autouse=True)
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private global git config, so the developer's settings never reach the tests."""
    config = tmp_path / "gitconfig"
    config.write_text(
        "[user]\n\tname = Test Person\n\temail = test@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("LC_ALL", "C")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_ASKPASS", "SSH_ASKPASS"):
        monkeypatch.delenv(name, raising=False)
    return config


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path / "repos")


@pytest.fixture
def release(remote: Remote) -> dict[str, str]:
    """base -> release (image tag 1.1) -> unrelated change; returns the shas."""
    base = remote.commit(
        {"apps/checkout/deployment.yaml": DEPLOYMENT.format(tag="1.0"), "README.md": "config\n"},
        "Add checkout",
    )
    rel = remote.commit(
        {"apps/checkout/deployment.yaml": DEPLOYMENT.format(tag="1.1")}, "checkout: release 1.1"
    )
    later = remote.commit({"apps/cart/values.yaml": "replicas: 2\n"}, "cart: two replicas")
    return {"base": base, "release": rel, "later": later}


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def reason() -> RevertReason:
    return RevertReason(
        kind="verdict",
        summary="error-rate: canary 4.1% vs baseline 0.3%, e-value 212 > 20 (wave 2, eu-1)",
        requested_by="auspice analysis",
    )


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
def racing_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RacingGit]:
    yield RacingGit(tmp_path, monkeypatch)


@pytest.fixture
async def hub() -> AsyncIterator[KubeApiServer]:
    async with kube_api_servers(1, names=["hub"]) as (server,):
        for obj in (APPLICATION, KUSTOMIZATION, HELM_RELEASE):
            server.seed(obj, validate=False)
        yield server


@pytest.fixture
async def hub_client(hub: KubeApiServer) -> AsyncIterator[ApiClient]:
    async with ApiClient(configuration=hub.configuration()) as client:
        yield client


@pytest.fixture
def conflicting(remote: Remote, release: dict[str, str]) -> dict[str, str]:
    """The release touched two files; a later commit edited the same lines in both."""
    rel = remote.commit(
        {DEPLOYMENT_FILE: DEPLOYMENT.format(tag="2.0"), FLAGS_FILE: "new_cart: true\n"},
        "checkout: release 2.0 with the new cart",
    )
    hotfix = remote.commit(
        {DEPLOYMENT_FILE: DEPLOYMENT.format(tag="2.0.1"), FLAGS_FILE: "new_cart: false\n"},
        "checkout: hotfix 2.0.1, new cart off",
    )
    return {**release, "release2": rel, "hotfix": hotfix}
