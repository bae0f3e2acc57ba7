"""Skipping or failing integration tests whose real part is missing.

On a developer machine without, say, ``prometheus``, integration tests skip with a
reason. In CI (``AUSPICE_REQUIRE_INTEGRATION=1``) the same absence is a failure, so a
green run can never hide tests that did not run.
"""

from __future__ import annotations

import os
import shutil

import pytest


def integration_required() -> bool:
    return os.environ.get("AUSPICE_REQUIRE_INTEGRATION", "") not in ("", "0")


#: The Debian package that brings each binary the integration tests start.
PACKAGES = {"prometheus": "prometheus", "promtool": "prometheus", "sshd": "openssh-server"}


def require_binary(name: str, *, path: str | None = None) -> str:
    """Return the path of ``name`` on PATH (or ``path``), or skip (fail under CI) with
    the reason and the package to install."""
    found = shutil.which(name, path=path)
    if found is None:
        package = PACKAGES.get(name, name)
        reason = f"{name!r} is not installed (apt-get install {package} provides it)"
        if integration_required():
            pytest.fail(f"AUSPICE_REQUIRE_INTEGRATION=1 but {reason}")
        pytest.skip(reason)
    return found
