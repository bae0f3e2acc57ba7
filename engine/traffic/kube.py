"""Turning what the Kubernetes client raises into Auspice errors that say what to do.

The ``kubernetes.aio`` client raises ``ApiException`` subclasses with the raw HTTP body,
aiohttp raises connection errors, and timeouts surface as ``TimeoutError``. None of
them names the cluster, and the raw body can be long. Every call to a cluster goes
through :func:`kube_errors`, so a failed cluster in a 50-cluster fan-out reads like
"cluster 'prod-eu-3' rejected Auspice's credentials (401) on get VirtualService
shop/checkout; check the token ..." and never includes a credential.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import aiohttp
from kubernetes.aio.client.exceptions import ApiException

from auspice.errors import ClusterError


class ClusterUnreachableError(ClusterError):
    """The cluster's API server did not answer (refused, dropped, timed out)."""


class ClusterAuthError(ClusterError):
    """The API server rejected the credentials (401) or the permission (403)."""


class ClusterNotFoundError(ClusterError):
    """The object asked for does not exist in the cluster (404)."""


class ClusterApiError(ClusterError):
    """Any other error answer of the API server (4xx, 5xx)."""


def status_message(error: ApiException) -> str:
    """The ``message`` of a Kubernetes Status body, else the HTTP reason."""
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:500]
    return str(error.reason or "no reason given")


@contextlib.contextmanager
def kube_errors(cluster: str, action: str, *, passthrough: tuple[int, ...] = ()) -> Iterator[None]:
    """Re-raise client errors of ``action`` in ``cluster`` as :class:`ClusterError` subclasses.

    ``ApiException`` with a status in ``passthrough`` (e.g. 409 for the caller's own retry)
    is re-raised unchanged.
    """
    where = f"cluster {cluster!r}: {action}"
    try:
        yield
    except ApiException as error:
        status = error.status
        if status in passthrough:
            raise
        message = status_message(error)
        if status == 401:
            raise ClusterAuthError(
                f"{where}: the API server rejected Auspice's credentials (401 Unauthorized)",
                hint="the token is wrong or expired; update the kubeconfig user or the "
                "Argo CD cluster secret's bearerToken",
            ) from None
        if status == 403:
            raise ClusterAuthError(
                f"{where}: forbidden (403): {message}",
                hint="grant the RBAC in docs/traffic.md to Auspice's identity in this cluster",
            ) from None
        if status == 404:
            raise ClusterNotFoundError(f"{where}: not found (404): {message}") from None
        raise ClusterApiError(f"{where}: the API server answered {status}: {message}") from None
    except TimeoutError:
        raise ClusterUnreachableError(f"{where}: no answer before the request timeout") from None
    except (aiohttp.ClientError, OSError) as error:
        detail = str(error) or type(error).__name__
        raise ClusterUnreachableError(
            f"{where}: cannot reach the API server ({type(error).__name__}: {detail})"
        ) from None
