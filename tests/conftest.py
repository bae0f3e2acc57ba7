"""Suite-wide settings and the fixtures several areas share.

``istio_prometheus`` is one real Prometheus with backfilled Istio metrics for the whole
session (support.prometheus); ``make_service`` builds the HTTP service around a fake or
real metrics source (support.service). Area fixtures live in each folder's conftest.
"""

import pytest
from hypothesis import settings
from support.prometheus import istio_prometheus
from support.service import make_service

__all__ = ["istio_prometheus", "make_service"]

#: Fixtures that start a real server program (Prometheus, sshd, git's smart HTTP, a
#: federation of Prometheus servers): a test that uses one is an integration test.
REAL_SERVER_FIXTURES = frozenset({"istio_prometheus", "scraped", "sshd", "server", "mesh"})
#: Test modules whose tests start programs of their own (``auspice serve`` processes).
REAL_SERVER_MODULES = frozenset({"test_serve_process.py", "test_process.py",
                                 "test_rollout_over_clusters_and_git.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``integration`` every test that needs a real server (``-m integration`` runs
    only those, ``-m "not integration"`` the rest). Under AUSPICE_REQUIRE_INTEGRATION=1 a
    missing program fails them instead of skipping them (support.integration)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        real = fixtures & REAL_SERVER_FIXTURES
        if "server" in real and item.path.parent.name != "gitops":
            real.discard("server")  # other folders' "server" is the in-process kube fake
        if real or item.path.name in REAL_SERVER_MODULES:
            item.add_marker(pytest.mark.integration)

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci")
