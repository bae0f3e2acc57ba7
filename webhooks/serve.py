"""``auspice serve --config FILE``: build the service context and run the HTTP server.

:func:`build_context` turns a :class:`~auspice.webhooks.config.ServeConfig` into a
:class:`~auspice.webhooks.context.ServiceContext` (Prometheus client with the counting
and optional caching wrappers, the SQLite store, templates, tokens, clock); :func:`serve`
runs it until SIGTERM or SIGINT, then stops accepting connections, lets running looks
finish (up to ``limits.shutdown_timeout``) and closes the store. Refusing to start is
preferred to starting half-configured: no callers configured, an unreadable token
file, an unwritable state file or a broken template directory stop it with a message.
With a ``rollouts:`` section it also drives RolloutPlans
(:mod:`auspice.webhooks.rollouts_service`) and, on start, resumes every rollout the
state file says is unfinished; without one the rollouts API answers 503.
"""

from __future__ import annotations

import asyncio
import base64
import signal
import ssl
import time
from pathlib import Path

import yaml
from aiohttp import web

from auspice.analysis.templates import TemplateResolver
from auspice.clock import Clock, RealClock
from auspice.errors import ConfigError
from auspice.metrics.prometheus import PrometheusSource
from auspice.metrics.source import MetricsSource
from auspice.specs.serve import KubernetesSecretRef, ServeConfig, load_config
from auspice.storage import Storage
from auspice.webhooks.app import create_app
from auspice.webhooks.auth import Role, TokenAuth
from auspice.webhooks.context import ServiceContext
from auspice.webhooks.rollouts import api as rollouts_api
from auspice.webhooks.rollouts.service import RolloutService, build_rollouts
from auspice.webhooks.sources import CachingSource, CountingSource
from auspice.webhooks.telemetry import ServiceMetrics, configure_logging, log_event

__all__ = ["ShiftedClock", "build_context", "main", "serve"]


class ShiftedClock:
    """A clock that starts at ``start_at`` and runs at ``speed`` (0: frozen); tests only."""

    def __init__(self, start_at: float, speed: float = 1.0) -> None:
        self._start_at = float(start_at)
        self._speed = float(speed)
        self._origin = time.monotonic()

    def now(self) -> float:
        return self._start_at + self._speed * (time.monotonic() - self._origin)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self._speed if self._speed > 0 else 0.0)


def make_clock(config: ServeConfig) -> Clock:
    if config.clock is None:
        return RealClock()
    return ShiftedClock(config.clock.start_at, config.clock.speed)


def make_source(config: ServeConfig, metrics: ServiceMetrics) -> MetricsSource:
    source: MetricsSource = CountingSource(PrometheusSource.from_config(config.prometheus), metrics)
    if config.cache.ttl:
        source = CachingSource(source, ttl=config.cache.ttl,
                               max_entries=config.cache.max_entries, metrics=metrics)
    return source


async def load_tokens(config: ServeConfig) -> TokenAuth:
    """Tokens from the file and/or the Secret; ConfigError when nobody could call."""
    auth = config.auth
    anonymous = Role.named(auth.allow_anonymous) if auth.allow_anonymous else None
    tokens = TokenAuth([], anonymous=anonymous)
    if auth.tokens_file is not None:
        tokens = tokens.merged(await asyncio.to_thread(TokenAuth.from_file, auth.tokens_file))
    if auth.kubernetes_secret is not None:
        tokens = tokens.merged(await asyncio.to_thread(_secret_tokens, auth.kubernetes_secret))
    kayenta_only = bool(config.kayenta.get("allowAnonymous"))  # Argo's kayenta provider
    if not tokens.configured and not kayenta_only:
        raise ConfigError("no callers are configured: set auth.tokensFile or "
                          "auth.kubernetesSecret", hint="or auth.allowAnonymous: viewer|judge "
                          "for a service reachable only by trusted callers")
    return tokens


def _secret_tokens(ref: KubernetesSecretRef) -> TokenAuth:
    """Read the tokens document from a Secret (blocking; run it in a thread).

    In a pod the service account is used; elsewhere the kubeconfig (``ref.kubeconfig``,
    else ``$KUBECONFIG`` or ``~/.kube/config``, context ``ref.context``). A private
    client configuration is built, so the kubernetes client's global default is left
    alone.
    """
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if ref.kubeconfig is not None:
            raise config.ConfigException("a kubeconfig was named")
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(config_file=str(ref.kubeconfig) if ref.kubeconfig else None,
                                context=ref.context, client_configuration=configuration)
    where = f"Secret {ref.namespace}/{ref.name}"
    try:
        with client.ApiClient(configuration) as api:
            secret = client.CoreV1Api(api).read_namespaced_secret(
                ref.name, ref.namespace, _request_timeout=10)
    except client.ApiException as error:
        raise ConfigError(f"cannot read {where}: HTTP {error.status} {error.reason}",
                          hint="check the name and that the service account may get it"
                          ) from None
    except OSError as error:  # urllib3 connection errors are OSErrors too
        raise ConfigError(f"cannot read {where}: {type(error).__name__}",
                          hint="check the API server is reachable") from None
    data = (secret.data or {}).get(ref.key)
    if data is None:
        raise ConfigError(f"{where} has no key {ref.key!r}",
                          hint=f"its keys: {', '.join(sorted(secret.data or {})) or 'none'}")
    text = base64.b64decode(data).decode("utf-8")
    return TokenAuth.from_data(yaml.safe_load(text), source=f"{where} key {ref.key}")


async def build_context(config: ServeConfig, *, clock: Clock | None = None,
                        source: MetricsSource | None = None) -> ServiceContext:
    """Everything the handlers need, opened and checked (the store is created if new)."""
    metrics = ServiceMetrics()
    templates = TemplateResolver(config.templates.directory)
    templates.names()  # a broken template directory stops the start, with file:line
    tokens = await load_tokens(config)
    store = await Storage.open(config.store.path)
    await store.database.check_writable()
    return ServiceContext(config=config, source=source or make_source(config, metrics),
                          store=store, templates=templates, tokens=tokens,
                          clock=clock or make_clock(config), metrics=metrics)


def _ssl_context(config: ServeConfig) -> ssl.SSLContext | None:
    if config.tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(config.tls.cert_file), str(config.tls.key_file))
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"cannot load the TLS certificate or key: {error}",
                          hint="check tls.certFile and tls.keyFile (PEM)") from None
    return context


async def serve(config: ServeConfig, *, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT), then shut down gracefully."""
    ssl_context = _ssl_context(config)  # a bad certificate stops the start before any I/O
    context = await build_context(config)
    try:
        rollouts = await _build_rollouts(config, context)
    except BaseException:
        await _release(context, None)
        raise
    app = create_app(context)
    rollouts_api.add_routes(app, rollouts.orchestrator if rollouts else None)

    async def cleanup(_: web.Application) -> None:
        await _release(context, rollouts)

    app.on_cleanup.append(cleanup)
    runner = web.AppRunner(app, access_log=None,
                           shutdown_timeout=config.limits.shutdown_timeout)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await runner.setup()  # runs on_startup: unfinished rollouts resume here
        site = web.TCPSite(runner, config.listen.host, config.listen.port,
                           ssl_context=ssl_context)
        await site.start()
        log_event(context.log, "listening", host=config.listen.host, port=config.listen.port,
                  tls=config.tls is not None, store=str(config.store.path),
                  prometheus=context.source.server)
        await stop.wait()
        log_event(context.log, "stopping", looks_running=len(context.inflight))
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()  # also after a failed setup: on_cleanup still runs


async def _build_rollouts(config: ServeConfig, context: ServiceContext) -> RolloutService | None:
    """The orchestrator when the configuration has ``rollouts:`` (None: judging only)."""
    if config.rollouts is None:
        return None
    return await build_rollouts(config.rollouts, database=context.store.database,
                                source=context.source,
                                templates=context.templates, clock=context.clock)


async def _release(context: ServiceContext, rollouts: RolloutService | None) -> None:
    """After the drivers stopped: cluster clients, the metrics source, then the store."""
    if rollouts is not None:
        await rollouts.close()
    await context.source.close()
    await context.store.close()


def main(config_path: str | Path) -> int:
    """Load the configuration and serve; 0 after a clean shutdown."""
    config = load_config(config_path)
    configure_logging(config.log_level)
    asyncio.run(serve(config))
    return 0
