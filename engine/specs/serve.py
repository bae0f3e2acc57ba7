"""The ``auspice serve`` configuration file (YAML, camelCase, strict like every user file).

One file says where the metrics come from, where state is kept, where extra templates
live, who may call the API and how long a look may take. Everything has a safe default
except the Prometheus URL and the callers: a service that would accept anonymous calls
must say so (``auth.allowAnonymous``), it never happens by omission.

Example::

    listen: {host: 0.0.0.0, port: 8443}
    tls: {certFile: /tls/tls.crt, keyFile: /tls/tls.key}
    prometheus: {url: "http://thanos-query.monitoring:9090", timeout: 5s}
    store: {path: /var/lib/auspice/state.db}
    templates: {directory: /etc/auspice/templates}
    auth: {tokensFile: /etc/auspice/tokens.yaml}
    limits: {lookDeadline: 8s, maxBodyBytes: 65536}
    cache: {ttl: 10s}
    rollouts:                      # optional: run RolloutPlans (docs/rollouts.md)
      clusters: {kubeconfig: /etc/auspice/spokes/kubeconfig,
                 labelsFile: /etc/auspice/spokes/clusters.yaml}
      git: {cacheDir: /var/lib/auspice/git, tokenFile: /etc/auspice/git/token}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from auspice.errors import ConfigError
from auspice.specs.base import FilePath, UserModel, bounded
from auspice.specs.durations import Duration
from auspice.specs.loader import load_file

__all__ = [
    "AuthConfig",
    "CacheConfig",
    "ClockConfig",
    "KubernetesSecretRef",
    "LimitsConfig",
    "ListenConfig",
    "PrometheusConfig",
    "RolloutsConfig",
    "ServeConfig",
    "StoreConfig",
    "TemplatesConfig",
    "TlsConfig",
    "load_config",
]

Port = bounded(int, low=1, high=65535, what="port", hint="a TCP port between 1 and 65535")
Bytes = bounded(int, low=1024, what="the size", hint="give at least 1024 bytes")

Retries = bounded(int, low=0, high=10, what="retries", hint="between 0 and 10")


class PrometheusConfig(UserModel):
    """The Prometheus / Thanos querier every template's queries go to.

    Shared by ``auspice serve`` (the ``prometheus:`` section) and ``auspice analyze`` /
    ``backtest`` (their command-line options fill the same model), so a source is
    configured the same way wherever it is used. The fields are
    :class:`~auspice.metrics.prometheus.PrometheusSource`'s keyword arguments, name for
    name, and :meth:`PrometheusSource.from_config
    <auspice.metrics.prometheus.PrometheusSource.from_config>` builds one.
    """

    url: str
    timeout: Duration = 5.0
    headers: dict[str, str] = Field(default_factory=dict)
    bearer_token_file: FilePath | None = None
    ca_file: FilePath | None = None
    client_cert: FilePath | None = None
    client_key: FilePath | None = None
    insecure_skip_verify: bool = False
    partial_response: bool = False
    dedup: bool = True
    replica_labels: list[str] = Field(default_factory=list)
    thanos_parameters: bool = True
    retries: Retries = 1
    method: Literal["GET", "POST"] = "GET"


class ListenConfig(UserModel):
    host: str = "0.0.0.0"
    port: Port = 8080


class TlsConfig(UserModel):
    """Serve HTTPS with this certificate chain and key (PEM files)."""

    cert_file: FilePath
    key_file: FilePath


class StoreConfig(UserModel):
    path: FilePath = Path("auspice-state.db")


class TemplatesConfig(UserModel):
    """Extra templates (``*.yaml``) besides the library; a name here shadows the library's."""

    directory: FilePath | None = None


class KubernetesSecretRef(UserModel):
    """A Secret whose ``key`` holds a tokens document (the same YAML as ``tokensFile``)."""

    namespace: str
    name: str
    key: str = "tokens.yaml"
    #: Outside a cluster: the kubeconfig and context to read it with.
    kubeconfig: FilePath | None = None
    context: str | None = None


class AuthConfig(UserModel):
    """Who may call: bearer tokens with roles (viewer < judge < operator)."""

    tokens_file: FilePath | None = None
    kubernetes_secret: KubernetesSecretRef | None = None
    allow_anonymous: Literal["viewer", "judge", "operator"] | None = None


class LimitsConfig(UserModel):
    look_deadline: Duration = 8.0
    max_body_bytes: Bytes = 64 * 1024
    shutdown_timeout: Duration = 30.0


class CacheConfig(UserModel):
    """Keep Prometheus answers for ``ttl`` (absent: no cache)."""

    ttl: Duration | None = None
    max_entries: Annotated[int, Field(ge=1)] = 4096


class ClockConfig(UserModel):
    """For tests and demos only: run the service's clock from ``startAt`` (epoch seconds).

    ``speed`` 1 ticks like a wall clock, 0 freezes time at ``startAt``.
    """

    start_at: float
    speed: Annotated[float, Field(ge=0)] = 1.0


class ArgoCdClusters(UserModel):
    """Spoke clusters from the Argo CD cluster Secrets in ``namespace`` of the hub."""

    namespace: str = "argocd"


class InClusterTarget(UserModel):
    """The hub itself as a rollout target, through the pod's ServiceAccount."""

    name: str = "in-cluster"
    labels: dict[str, str] = Field(default_factory=dict)


class ClustersConfig(UserModel):
    """Where the clusters a plan's waves select come from; the sources add up."""

    kubeconfig: FilePath | None = None
    labels_file: FilePath | None = None
    argocd: ArgoCdClusters | None = None
    in_cluster: InClusterTarget | None = None


class HubConfig(UserModel):
    """The hub cluster (Argo CD Secrets, nudges): a kubeconfig context, else in-cluster."""

    kubeconfig: FilePath | None = None
    context: str | None = None


class GitConfig(UserModel):
    """How reverts reach the GitOps repositories. No credential: git's own configuration."""

    cache_dir: FilePath = Path("auspice-git-cache")
    ssh_key_file: FilePath | None = None
    known_hosts_file: FilePath | None = None
    accept_new_host_keys: bool = False
    token_file: FilePath | None = None
    token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    username: str = "x-access-token"
    author_name: str = "Auspice"
    author_email: str = "auspice@localhost"
    timeout: Annotated[Duration, Field(le=3600)] = 60.0
    max_push_attempts: Annotated[int, Field(ge=1, le=20)] = 5


class RolloutsConfig(UserModel):
    """Run RolloutPlans: the clusters, the hub, git, and the Kubernetes request timeout."""

    clusters: ClustersConfig
    hub: HubConfig | None = None
    git: GitConfig = Field(default_factory=GitConfig)
    request_timeout: Duration = 10.0


class ServeConfig(UserModel):
    """The whole ``auspice serve`` configuration."""

    listen: ListenConfig = Field(default_factory=ListenConfig)
    tls: TlsConfig | None = None
    prometheus: PrometheusConfig
    store: StoreConfig = Field(default_factory=StoreConfig)
    templates: TemplatesConfig = Field(default_factory=TemplatesConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    clock: ClockConfig | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Settings of the Kayenta-compatible API, validated by its own module.
    kayenta: dict[str, Any] = Field(default_factory=dict)
    #: Absent: the rollouts API answers 503 (this service only judges).
    rollouts: RolloutsConfig | None = None


def load_config(path: str | Path) -> ServeConfig:
    """The configuration in ``path``; :class:`~auspice.specs.SpecError` with file:line."""
    configs = load_file(path, ServeConfig)
    if len(configs) != 1:
        raise ConfigError(f"{path}: expected one configuration document, found {len(configs)}")
    return configs[0]
