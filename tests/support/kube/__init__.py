"""The Kubernetes API test server (:mod:`.server`, whose docstring says what it models and
what not) and the objects tests put into it (:mod:`.objects`)."""

from support.kube.errors import ApiError, ObjectKey, key_of
from support.kube.objects import (
    CA_BUNDLE,
    CLUSTER_LABEL,
    SAMPLE_NAME,
    SAMPLE_NAMESPACE,
    argocd_secret,
    destination_rule,
    secret,
    strip_weights,
    virtual_service,
    weights_in,
    write_kubeconfig,
)
from support.kube.server import Faults, InFlight, KubeApiServer, kube_api_servers

__all__ = [
    "CA_BUNDLE",
    "CLUSTER_LABEL",
    "SAMPLE_NAME",
    "SAMPLE_NAMESPACE",
    "ApiError",
    "Faults",
    "InFlight",
    "KubeApiServer",
    "ObjectKey",
    "argocd_secret",
    "destination_rule",
    "key_of",
    "kube_api_servers",
    "secret",
    "strip_weights",
    "virtual_service",
    "weights_in",
    "write_kubeconfig",
]
