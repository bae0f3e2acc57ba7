"""The cluster inventory: which spoke clusters exist, their labels, and how to reach them.

Auspice runs in a hub and moves traffic in many spokes. Platform teams already keep the
list of spokes somewhere, so the inventory reads it from where it is:

- a kubeconfig with one context per cluster plus a small labels file
  (:meth:`ClusterInventory.from_kubeconfig`);
- Argo CD's cluster Secrets in the hub (:meth:`ClusterInventory.from_argocd_secrets`),
  whose labels become the cluster's labels, so the selectors that drive ApplicationSets
  also drive waves;
- the hub itself through its in-cluster ServiceAccount
  (:meth:`ClusterInventory.in_cluster`).

Loading reads only configuration; nothing connects until a cluster is used. Each
cluster gets one ``kubernetes.aio`` ``ApiClient``, created on first use from its own
``Configuration`` (never the library's global default, which would leak one cluster's
credentials into another), and closed by :meth:`ClusterInventory.close`.

A cluster whose credentials Auspice cannot use (an exec plugin that only works inside
Argo CD, ``awsAuthConfig``) still loads, so selection and the other clusters keep
working; using it raises :class:`ClusterCredentialError` naming the cluster and what to
do. A malformed Secret or labels file is a :class:`InventoryError` at load time, naming
the Secret or file.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes.aio.client import ApiClient, Configuration, CoreV1Api
from kubernetes.aio.config.config_exception import ConfigException
from kubernetes.aio.config.incluster_config import (
    SERVICE_CERT_FILENAME,
    SERVICE_TOKEN_FILENAME,
    InClusterConfigLoader,
)
from kubernetes.aio.config.kube_config import KubeConfigLoader
from pydantic import ValidationError

from auspice.errors import ClusterError, ConfigError, one_line
from auspice.specs.clusters import ContextLabels, LabelsFile
from auspice.specs.selectors import LabelSelector
from auspice.traffic.kube import kube_errors
from auspice.traffic.selectors import select

ARGOCD_SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"


class InventoryError(ConfigError):
    """A kubeconfig, labels file or Argo CD cluster Secret cannot be used as written."""


class ClusterCredentialError(ClusterError):
    """A cluster's credentials cannot be used by Auspice (exec plugin, cloud auth...)."""


class UnknownClusterError(ClusterError):
    """A cluster name that is not in the inventory."""


@dataclass(frozen=True)
class Cluster:
    """A cluster as callers see it: a name, labels and where it came from."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    server: str = ""
    source: str = ""  # "kubeconfig context X", "Argo CD secret ns/name", "in-cluster"


class _PrivateFiles:
    """A 0700 temp directory for PEM data the client can only take as files."""

    def __init__(self) -> None:
        self._directory: str | None = None

    def write(self, name: str, data: bytes) -> str:
        if self._directory is None:
            self._directory = tempfile.mkdtemp(prefix="auspice-clusters-")
        path = os.path.join(self._directory, name)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return path

    @property
    def directory(self) -> str:
        if self._directory is None:
            self._directory = tempfile.mkdtemp(prefix="auspice-clusters-")
        return self._directory

    def remove(self) -> None:
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None


Connector = Callable[[_PrivateFiles], Awaitable[Configuration]]


@dataclass(frozen=True)
class Connection:
    """Static connection settings, as Argo CD cluster Secrets carry them."""

    host: str
    authorization: str | None = None  # full header value: "Bearer ..." or "Basic ..."
    ca_pem: bytes | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    insecure: bool = False
    server_name: str | None = None

    def connector(self, cluster: str) -> Connector:
        async def connect(files: _PrivateFiles) -> Configuration:
            configuration = Configuration(host=self.host.rstrip("/"))
            if self.authorization:
                configuration.api_key["BearerToken"] = self.authorization
            if self.ca_pem:
                configuration.ca_cert_data = self.ca_pem.decode()
            if self.cert_pem and self.key_pem:
                configuration.cert_file = files.write(f"{cluster}.crt", self.cert_pem)
                configuration.key_file = files.write(f"{cluster}.key", self.key_pem)
            configuration.verify_ssl = not self.insecure
            if self.server_name:
                configuration.tls_server_name = self.server_name
            return configuration

        return connect


def _refusing_connector(error: ClusterCredentialError) -> Connector:
    async def connect(files: _PrivateFiles) -> Configuration:
        raise error

    return connect


class ClusterInventory:
    """Named, labelled clusters and one lazily created ApiClient for each."""

    def __init__(self, entries: Iterable[tuple[Cluster, Connector]]) -> None:
        self._clusters: dict[str, Cluster] = {}
        self._connectors: dict[str, Connector] = {}
        for cluster, connector in entries:
            if cluster.name in self._clusters:
                first = self._clusters[cluster.name].source
                raise InventoryError(
                    f"cluster name {cluster.name!r} appears twice ({first} and "
                    f"{cluster.source}); cluster names must be unique"
                )
            self._clusters[cluster.name] = cluster
            self._connectors[cluster.name] = connector
        self._clients: dict[str, ApiClient] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._files = _PrivateFiles()

    # ---- what is in it

    @property
    def clusters(self) -> list[Cluster]:
        return [self._clusters[name] for name in sorted(self._clusters)]

    @property
    def names(self) -> list[str]:
        return sorted(self._clusters)

    def __contains__(self, name: object) -> bool:
        return name in self._clusters

    def __len__(self) -> int:
        return len(self._clusters)

    def get(self, name: str) -> Cluster:
        try:
            return self._clusters[name]
        except KeyError:
            known = ", ".join(self.names) or "none"
            raise UnknownClusterError(
                f"cluster {name!r} is not in the inventory (known: {known})"
            ) from None

    def select(self, selector: LabelSelector | Mapping[str, Any]) -> list[Cluster]:
        """The clusters a selector matches, in name order (stable across runs)."""
        if not isinstance(selector, LabelSelector):
            selector = LabelSelector.model_validate(selector)
        return select(self._clusters.values(), selector)

    @classmethod
    def combine(cls, *inventories: ClusterInventory) -> ClusterInventory:
        """One inventory from several sources; a name used twice is an error."""
        return cls(
            (inventory._clusters[name], inventory._connectors[name])
            for inventory in inventories
            for name in inventory.names
        )

    # ---- connections

    async def api_client(self, name: str) -> ApiClient:
        """The cluster's ApiClient, created on first use."""
        cluster = self.get(name)
        client = self._clients.get(name)
        if client is not None:
            return client
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            client = self._clients.get(name)
            if client is None:
                configuration = await self._connectors[name](self._files)
                if not configuration.host:
                    raise ClusterCredentialError(f"cluster {cluster.name!r} has no server address")
                # Building the client loads CA certificates (the system store when the
                # cluster names no CA: tens of ms), so it runs off the event loop.
                client = await asyncio.to_thread(ApiClient, configuration)
                self._clients[name] = client
        return client

    async def connect(self, names: Iterable[str] | None = None) -> None:
        """Create the clients of ``names`` (default: all) now, e.g. when a rollout starts,
        so that an abort later pays no client set-up. Credential errors are raised."""
        await asyncio.gather(*(self.api_client(name) for name in (names or self.names)))

    async def close(self) -> None:
        """Close every ApiClient that was created and remove private temp files."""
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
        self._files.remove()

    async def __aenter__(self) -> ClusterInventory:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- sources

    @classmethod
    def from_kubeconfig(
        cls, path: str | Path, *, labels_file: str | Path | None = None
    ) -> ClusterInventory:
        """Clusters from kubeconfig contexts, labelled by ``labels_file``.

        Without a labels file every context is a cluster without labels. With one, the
        inventory holds exactly the contexts it lists (so a developer's kind or minikube
        context never becomes a target by accident).
        """
        path = Path(path)
        document = _load_yaml(path, what="kubeconfig")
        contexts = {c.get("name"): c for c in document.get("contexts") or [] if isinstance(c, dict)}
        chosen = (
            _read_labels_file(Path(labels_file), known=contexts)
            if labels_file
            else {context: ContextLabels() for context in contexts}
        )
        entries = []
        for context, entry in chosen.items():
            name = entry.name or context
            server = _kubeconfig_server(document, contexts[context])
            cluster = Cluster(
                name, dict(entry.labels), server, f"kubeconfig {path} context {context!r}"
            )
            entries.append((cluster, _kubeconfig_connector(document, context, name, path)))
        return cls(entries)

    @classmethod
    async def from_argocd_secrets(
        cls,
        hub: ApiClient,
        *,
        namespace: str = "argocd",
        hub_name: str = "hub",
        request_timeout: float = 10.0,
    ) -> ClusterInventory:
        """Clusters from the Argo CD cluster Secrets in ``namespace`` of the hub.

        Auspice needs ``list`` on Secrets in that namespace (see docs/traffic.md).
        """
        with kube_errors(hub_name, f"list Argo CD cluster secrets in namespace {namespace!r}"):
            secrets = await CoreV1Api(hub).list_namespaced_secret(
                namespace,
                label_selector=f"{ARGOCD_SECRET_TYPE_LABEL}=cluster",
                _request_timeout=request_timeout,
            )
        return cls(parse_argocd_secret(item.to_dict()) for item in secrets.items)

    @classmethod
    def in_cluster(
        cls,
        *,
        name: str = "in-cluster",
        labels: Mapping[str, str] | None = None,
        token_path: str = SERVICE_TOKEN_FILENAME,
        ca_path: str = SERVICE_CERT_FILENAME,
        environ: Mapping[str, str] | None = None,
    ) -> ClusterInventory:
        """The hub itself, through the pod's ServiceAccount."""
        cluster = Cluster(name, dict(labels or {}), IN_CLUSTER_SERVER, "in-cluster")
        return cls([(cluster, _in_cluster_connector(name, token_path, ca_path, environ))])


# ------------------------------------------------------------------ kubeconfig source


def _load_yaml(path: Path, *, what: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as error:
        raise InventoryError(f"cannot read {what} {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise InventoryError(f"{what} {path} is not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise InventoryError(f"{what} {path} must be a YAML mapping")
    return document


def _read_labels_file(path: Path, *, known: Mapping[str, Any]) -> dict[str, ContextLabels]:
    try:
        parsed = LabelsFile.model_validate(_load_yaml(path, what="cluster labels file"))
    except ValidationError as error:
        raise InventoryError(f"cluster labels file {path}: {one_line(error)}") from None
    unknown = sorted(set(parsed.contexts) - set(known))
    if unknown:
        raise InventoryError(
            f"cluster labels file {path} names contexts not in the kubeconfig: "
            f"{', '.join(unknown)} (known: {', '.join(sorted(known)) or 'none'})"
        )
    return parsed.contexts


def _kubeconfig_server(document: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    cluster_name = (context.get("context") or {}).get("cluster")
    for entry in document.get("clusters") or []:
        if isinstance(entry, dict) and entry.get("name") == cluster_name:
            return str((entry.get("cluster") or {}).get("server", ""))
    return ""


def _kubeconfig_user(document: Mapping[str, Any], context: str) -> dict[str, Any]:
    for entry in document.get("contexts") or []:
        if entry.get("name") == context:
            user_name = (entry.get("context") or {}).get("user")
            for user in document.get("users") or []:
                if isinstance(user, dict) and user.get("name") == user_name:
                    return dict(user.get("user") or {})
    return {}


def _kubeconfig_connector(
    document: dict[str, Any], context: str, name: str, path: Path
) -> Connector:
    where = f"cluster {name!r} (kubeconfig {path} context {context!r})"

    async def connect(files: _PrivateFiles) -> Configuration:
        configuration = Configuration()
        loader = KubeConfigLoader(
            config_dict=document,
            active_context=context,
            config_base_path=str(path.parent),
            temp_file_path=files.directory,
        )
        try:
            await loader.load_and_set(configuration)
        except (ConfigException, KeyError, ValueError, TypeError, OSError) as error:
            raise ClusterCredentialError(f"{where}: cannot load credentials: {error}") from None
        user = _kubeconfig_user(document, context)
        has_credential = "BearerToken" in configuration.api_key or configuration.cert_file
        if "exec" in user and not has_credential:
            command = (user.get("exec") or {}).get("command", "?")
            raise ClusterCredentialError(
                f"{where}: the exec credential plugin {command!r} gave no credential "
                "(it is not installed here, failed, or only works inside Argo CD)",
                hint="give Auspice a ServiceAccount token (users[].user.token or tokenFile) "
                "or install the plugin in Auspice's image",
            )
        if "exec" in user:
            configuration.refresh_api_key_hook = _exec_refresher(loader)
        return configuration

    return connect


def _exec_refresher(loader: KubeConfigLoader) -> Callable[[Configuration], Awaitable[None]]:
    """Re-run the exec plugin once its token has expired (the loader caches until then)."""

    async def refresh(configuration: Configuration) -> None:
        await loader.load_and_set(configuration)

    return refresh


# -------------------------------------------------------------------- in-cluster source


def _in_cluster_connector(
    name: str, token_path: str, ca_path: str, environ: Mapping[str, str] | None
) -> Connector:
    async def connect(files: _PrivateFiles) -> Configuration:
        configuration = Configuration()
        loader = InClusterConfigLoader(
            token_filename=token_path,
            cert_filename=ca_path,
            environ=dict(os.environ if environ is None else environ),
        )
        try:
            loader.load_and_set(configuration)
        except (ConfigException, OSError) as error:
            raise ClusterCredentialError(
                f"cluster {name!r} (in-cluster): cannot load the pod's ServiceAccount: {error}",
                hint="in-cluster works only inside a pod with a mounted ServiceAccount token",
            ) from None
        return configuration

    return connect


# -------------------------------------------------------------------- Argo CD source


def parse_argocd_secret(secret: Mapping[str, Any]) -> tuple[Cluster, Connector]:
    """A cluster and its connector from one Argo CD cluster Secret (as a dict).

    Raises :class:`InventoryError` naming the Secret when it is malformed. Credentials
    Auspice cannot use give a cluster whose connector raises a clear error on use.
    """
    metadata = secret.get("metadata") or {}
    where = f"Argo CD cluster secret {metadata.get('namespace', '?')}/{metadata.get('name', '?')}"
    data = {k: _decode(where, k, v) for k, v in (secret.get("data") or {}).items()}
    server = data.get("server", "").strip()
    if not server:
        raise InventoryError(f"{where}: data.server is missing or empty")
    name = data.get("name", "").strip() or server
    labels = {
        k: v for k, v in (metadata.get("labels") or {}).items() if k != ARGOCD_SECRET_TYPE_LABEL
    }
    cluster = Cluster(name, labels, server, where)
    config = _argocd_config(where, data.get("config", "{}"))
    return cluster, _argocd_connector(where, name, server, config)


def _decode(where: str, key: str, value: Any) -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InventoryError(f"{where}: data.{key} is not valid base64 text") from None


def _argocd_config(where: str, text: str) -> dict[str, Any]:
    try:
        config = json.loads(text or "{}")
    except json.JSONDecodeError as error:
        raise InventoryError(
            f"{where}: data.config is not valid JSON ({error.msg} at line {error.lineno} "
            f"column {error.colno})"
        ) from None
    if not isinstance(config, dict):
        raise InventoryError(f"{where}: data.config must be a JSON object")
    tls = config.get("tlsClientConfig", {})
    if not isinstance(tls, dict):
        raise InventoryError(f"{where}: data.config.tlsClientConfig must be a JSON object")
    for key in ("bearerToken", "username", "password"):
        if key in config and not isinstance(config[key], str):
            raise InventoryError(f"{where}: data.config.{key} must be a string")
    return config


def _pem(where: str, tls: Mapping[str, Any], key: str) -> bytes | None:
    value = tls.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(str(value), validate=True)
    except binascii.Error:
        raise InventoryError(
            f"{where}: data.config.tlsClientConfig.{key} is not valid base64"
        ) from None


def _argocd_connector(where: str, name: str, server: str, config: Mapping[str, Any]) -> Connector:
    tls = config.get("tlsClientConfig") or {}
    authorization = None
    if config.get("bearerToken"):
        authorization = f"Bearer {config['bearerToken']}"
    elif config.get("username") and config.get("password"):
        pair = f"{config['username']}:{config['password']}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode()
    connection = Connection(
        host=server,
        authorization=authorization,
        ca_pem=_pem(where, tls, "caData"),
        cert_pem=_pem(where, tls, "certData"),
        key_pem=_pem(where, tls, "keyData"),
        insecure=bool(tls.get("insecure", False)),
        server_name=tls.get("serverName") or None,
    )
    if authorization or connection.cert_pem:
        return connection.connector(name)
    for field_name, what in (
        ("execProviderConfig", "an exec provider"),
        ("awsAuthConfig", "awsAuthConfig (argocd-k8s-auth aws)"),
        ("azureAuthConfig", "azureAuthConfig"),
        ("gcpAuthConfig", "gcpAuthConfig"),
    ):
        if field_name in config:
            return _refusing_connector(
                ClusterCredentialError(
                    f"cluster {name!r} ({where}) authenticates with {what}, which only "
                    "Argo CD's own components can use",
                    hint="add a bearerToken for an Auspice ServiceAccount in that cluster "
                    "to the secret's config, or list the cluster in a kubeconfig instead",
                )
            )
    if server.rstrip("/") == IN_CLUSTER_SERVER:
        return _in_cluster_connector(name, SERVICE_TOKEN_FILENAME, SERVICE_CERT_FILENAME, None)
    return _refusing_connector(
        ClusterCredentialError(
            f"cluster {name!r} ({where}) has no credentials Auspice can use "
            "(no bearerToken, username/password or client certificate in data.config)",
            hint="add a bearerToken for an Auspice ServiceAccount to the secret's config",
        )
    )
