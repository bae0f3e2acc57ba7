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
from auspice.specs.loader import DocumentKind, load_file, register_kind
from auspice.specs.problems import Finding

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
    "clusters_findings",
    "git_findings",
    "hub_findings",
    "load_config",
    "refuse",
    "rollouts_findings",
    "serve_findings",
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


def serve_findings(config: ServeConfig) -> list[Finding]:
    """The rules across fields of a serve configuration, each with the field it is about,
    so ``auspice validate`` reports them at their line and the service refuses to start
    on them with the same words."""
    findings: list[Finding] = []
    auth = config.auth
    if (auth.tokens_file is None and auth.kubernetes_secret is None
            and auth.allow_anonymous is None and not config.kayenta.get("allowAnonymous")):
        findings.append(Finding(("auth",), "no callers are configured: set auth.tokensFile or "
                                "auth.kubernetesSecret", "or auth.allowAnonymous: viewer|judge "
                                "for a service reachable only by trusted callers"))
    if config.rollouts is not None:
        findings.extend(rollouts_findings(config.rollouts))
    return findings


def rollouts_findings(rollouts: RolloutsConfig) -> list[Finding]:
    """What cannot work in a ``rollouts:`` section, without reading any file."""
    return [Finding(("rollouts", *finding.path), finding.message, finding.hint)
            for finding in (*git_findings(rollouts.git), *hub_findings(rollouts.hub),
                            *clusters_findings(rollouts.clusters))]


def git_findings(git: GitConfig) -> list[Finding]:
    findings = []
    if git.ssh_key_file is not None and (git.token_file or git.token_env):
        findings.append(Finding(("git",), "rollouts.git gives both an SSH key and an HTTPS "
                                "token", "keep sshKeyFile for ssh:// URLs or tokenFile/tokenEnv "
                                "for https:// URLs, not both"))
    if git.token_file is not None and git.token_env is not None:
        findings.append(Finding(("git",), "rollouts.git gives both tokenFile and tokenEnv",
                                "keep one of them"))
    return findings


def hub_findings(hub: HubConfig | None) -> list[Finding]:
    findings = []
    if hub is not None and hub.kubeconfig is None and hub.context is not None:
        findings.append(Finding(("hub", "context"), "rollouts.hub.context is given without "
                                "rollouts.hub.kubeconfig", "add the kubeconfig that holds the "
                                "context, or drop both to use the pod's ServiceAccount"))
    if hub is not None and hub.kubeconfig is not None and hub.context is None:
        findings.append(Finding(("hub", "kubeconfig"), "rollouts.hub.kubeconfig needs "
                                "rollouts.hub.context", "name the kubeconfig context of the "
                                "hub cluster"))
    return findings


def clusters_findings(clusters: ClustersConfig) -> list[Finding]:
    findings = []
    if clusters.labels_file is not None and clusters.kubeconfig is None:
        findings.append(Finding(("clusters", "labelsFile"), "rollouts.clusters.labelsFile is "
                                "given without a kubeconfig", "add rollouts.clusters.kubeconfig, "
                                "the file whose contexts the labels file names"))
    if clusters.kubeconfig is None and clusters.argocd is None and clusters.in_cluster is None:
        findings.append(Finding(("clusters",), "rollouts.clusters gives no cluster to roll "
                                "out to", "set kubeconfig (+ labelsFile), argocd or inCluster"))
    return findings


def refuse(findings: list[Finding]) -> None:
    """Raise the first of ``findings`` as a :class:`ConfigError` (a configuration built in
    code, or one the service meets at start), with the words ``auspice validate`` uses."""
    for finding in findings:
        raise ConfigError(finding.message, hint=finding.hint)


SERVE_CONFIGURATION = DocumentKind(
    api_version="", kind="serve configuration (auspice serve --config)", model=ServeConfig,
    check=serve_findings, recognise=lambda data: "prometheus" in data)
register_kind(SERVE_CONFIGURATION)


def load_config(path: str | Path) -> ServeConfig:
    """The configuration in ``path``; :class:`~auspice.specs.SpecError` with file:line."""
    configs = load_file(path, ServeConfig)
    if len(configs) != 1:
        raise ConfigError(f"{path}: expected one configuration document, found {len(configs)}")
    return configs[0]
