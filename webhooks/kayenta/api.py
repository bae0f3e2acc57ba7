"""The Kayenta-compatible REST API: canary configs and canary executions.

Argo Rollouts' ``kayenta`` metric provider and Spinnaker talk to Kayenta; pointing them
at Auspice instead needs these routes, with Kayenta's paths, parameters and JSON:

=======================================  ======  ===========================================
route                                    role    what
=======================================  ======  ===========================================
``GET /canaryConfig?application=a``      viewer  configs (``id``, ``name``, ``applications``
                                                 ...), those of application ``a`` only
``GET /canaryConfig/{id}``               viewer  one config, as stored
``POST /canaryConfig``                   oper.   store a config: ``{"canaryConfigId"}``
``PUT / DELETE /canaryConfig/{id}``      oper.   replace / delete a posted config
``POST /canary/{configId}?application=`` judge   start an execution of a stored config:
                                                 ``{"canaryExecutionId"}``
``POST /canary``                         judge   start one with an inline config
                                                 (``canaryConfig`` + ``executionRequest``)
``GET /canary/{executionId}``            viewer  ``complete``, ``status``, ``result``...
=======================================  ======  ===========================================

Configs come from ``kayenta.configDirectory`` in the serve config (Kayenta JSON files,
``*.json``, loaded at start-up, a broken file stops the service) and from
``POST /canaryConfig`` (kept in the state database).  Executions are accepted only when
every query renders and parses, so a bad request is a 400 naming the field at once,
never a failed execution later; then they run as background tasks and are written to the
state database when accepted and when complete.  A service restarted in the middle of
an execution runs it again when a client asks for it (its window is fixed, so the
answer is the same).

Argo's provider sends no ``Authorization`` header, so ``kayenta.allowAnonymous`` can
grant callers without a token a role on these routes only; the other APIs keep
requiring tokens.  The account-name parameters (``configurationAccountName``,
``metricsAccountName``, ``storageAccountName``) are accepted and echoed back: Auspice has
one configuration store and one metrics source (the serve config's ``prometheus``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from auspice.errors import AuspiceError, ConfigError
from auspice.specs import Duration
from auspice.stats.kayenta import ClassifierConfig
from auspice.webhooks.context import (
    CONTEXT,
    ApiError,
    Principal,
    Role,
    ServiceContext,
    bearer_token,
    require_role,
)
from auspice.webhooks.kayenta import openapi as kayenta_openapi
from auspice.webhooks.kayenta.models import (
    AdhocExecutionRequest,
    CanaryConfig,
    ExecutionRequest,
    KayentaModel,
    Thresholds,
)
from auspice.webhooks.kayenta.queries import MetricQueries, QueryError, plan_queries
from auspice.webhooks.kayenta.runs import (
    Execution,
    classifier_configs,
    iso_time,
    judge,
    resolve_thresholds,
)
from auspice.webhooks.kayenta.store import KayentaStore
from auspice.webhooks.openapi import add_paths
from auspice.webhooks.telemetry import log_event

__all__ = ["KAYENTA", "KayentaService", "KayentaSettings", "add_routes", "load_config_directory"]

M = TypeVar("M", bound=BaseModel)

AD_HOC = "ad-hoc"
API = "kayenta"
ANONYMOUS = "anonymous-kayenta"


class KayentaSettings(KayentaModel):
    """``kayenta:`` in the serve config."""

    config_directory: Path | None = None
    allow_anonymous: Literal["viewer", "judge"] | None = None
    execution_timeout: Duration = 120.0
    query_concurrency: Annotated[int, Field(ge=1, le=64)] = 8
    max_points: Annotated[int, Field(ge=10)] = 11_000
    """Points per query (window / step + 1) above which a request is refused."""
    executions_in_memory: Annotated[int, Field(ge=1)] = 1000
    max_running: Annotated[int, Field(ge=1)] = 32
    """Executions running at once; more are refused with 429 until one finishes."""


# ---------------------------------------------------------------------------- errors


def _path(loc: tuple[int | str, ...], prefix: str) -> str:
    out = prefix.rstrip(".")
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(body)"


def _validate(model: type[M], data: Any, *, prefix: str = "") -> M:
    """``model`` from ``data``, or ApiError 400 naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        details = error.errors(include_url=False)
        problems = "; ".join(f"{_path(tuple(d['loc']), prefix)}: {d['msg']}" for d in details[:5])
        more = f" (and {len(details) - 5} more)" if len(details) > 5 else ""
        field = _path(tuple(details[0]["loc"]), prefix)
        raise ApiError(400, problems + more, field=field) from None


async def _json_body(request: web.Request) -> Any:
    try:
        text = await request.text()
        body = json.loads(text, parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError) as error:
        raise ApiError(
            400,
            f"the request body is not valid JSON: {error}",
            hint="send a JSON object with Content-Type: application/json",
        ) from None
    if not isinstance(body, dict):
        raise ApiError(
            400, f"the request body is a JSON {type(body).__name__}, not an object", field="(body)"
        )
    return body


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _query_error(error: QueryError, prefix: str) -> ApiError:
    field = f"{prefix}{error.field}" if prefix else error.field
    return ApiError(400, f"{prefix}{error}", field=field, hint=error.hint)


# --------------------------------------------------------------------------- configs


def load_config_directory(directory: Path) -> dict[str, CanaryConfig]:
    """Every ``*.json`` canary config in ``directory`` by id (its ``id``, else file stem)."""
    if not directory.is_dir():
        raise ConfigError(f"kayenta.configDirectory {directory} is not a directory")
    configs: dict[str, CanaryConfig] = {}
    for path in sorted(directory.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(f"{path}: not a readable JSON file: {error}") from None
        try:
            config = CanaryConfig.model_validate(data)
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            raise ConfigError(
                f"{path}: {_path(tuple(first['loc']), '')}: {first['msg']}",
                hint="canary configs are Kayenta JSON with prometheus queries",
            ) from None
        config_id = config.id or path.stem
        if config_id in configs:
            raise ConfigError(f"{path}: canary config id {config_id!r} is used twice")
        configs[config_id] = config
    return configs


# --------------------------------------------------------------------------- service


@dataclass(frozen=True)
class _Plan:
    """What an accepted execution runs: rendered queries, classifiers, thresholds."""

    queries: list[MetricQueries]
    classifiers: list[ClassifierConfig]
    thresholds: Thresholds


class KayentaService:
    """Configs, executions and their tasks, for one application."""

    def __init__(self, context: ServiceContext, settings: KayentaSettings) -> None:
        self.context = context
        self.settings = settings
        self.configs: dict[str, CanaryConfig] = {}
        if settings.config_directory is not None:
            self.configs.update(load_config_directory(settings.config_directory))
        self.file_configs = frozenset(self.configs)
        self.executions: OrderedDict[str, Execution] = OrderedDict()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.log = context.log.getChild("kayenta")
        self.db = KayentaStore(context.store.database)

    # -- lifecycle -------------------------------------------------------------------

    async def startup(self, _app: web.Application) -> None:
        await self.db.prepare()
        for config_id, config in (await self.db.configs()).items():
            self.configs.setdefault(config_id, config)

    async def shutdown(self, _app: web.Application) -> None:
        """Let running executions finish; cancelled ones stay "running" in the store and
        are run again by the next process when a client asks for them."""
        tasks = list(self.tasks.values())
        if tasks:
            _, pending = await asyncio.wait(
                tasks, timeout=self.context.config.limits.shutdown_timeout
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # -- storage ---------------------------------------------------------------------

    async def store_config(self, config_id: str, config: CanaryConfig) -> None:
        """Create or replace a posted config (in the state database and in memory)."""
        await self.db.save_config(config_id, config, at=self.context.clock.now())
        self.configs[config_id] = config

    async def delete_config(self, config_id: str) -> None:
        await self.db.delete_config(config_id)
        self.configs.pop(config_id, None)

    def remember(self, execution: Execution) -> None:
        self.executions[execution.id] = execution
        self.executions.move_to_end(execution.id)
        while len(self.executions) > self.settings.executions_in_memory:
            oldest = next((i for i, e in self.executions.items() if e.state.complete), None)
            if oldest is None:
                break
            del self.executions[oldest]

    # -- executions ------------------------------------------------------------------

    def plan(
        self,
        config: CanaryConfig,
        request: ExecutionRequest,
        *,
        config_prefix: str = "canaryConfig.",
        request_prefix: str = "",
    ) -> _Plan:
        """Everything checked before an execution is accepted; ApiError 400 otherwise."""
        try:
            plans = plan_queries(config, request)
            classifiers = classifier_configs(config, field_prefix="")
            thresholds = resolve_thresholds(config, request)
        except QueryError as error:
            on_request = error.field.startswith(("scopes", "thresholds"))
            raise _query_error(error, request_prefix if on_request else config_prefix) from None
        for name, pair in request.scopes.items():
            for side, scope in (("controlScope", pair.control_scope),
                                ("experimentScope", pair.experiment_scope)):  # fmt: skip
                if scope.points > self.settings.max_points:
                    field = f"{request_prefix}scopes.{name}.{side}.step"
                    raise ApiError(
                        400,
                        f"{field}: {scope.points} points per query (window / "
                        f"step) is more than the limit of {self.settings.max_points}",
                        field=field,
                        hint="use a larger step or a shorter window",
                    )
        return _Plan(plans, classifiers, thresholds)

    def launch(self, execution: Execution, plan: _Plan) -> None:
        task = asyncio.create_task(self._run(execution, plan), name=f"kayenta-{execution.id}")
        self.tasks[execution.id] = task
        task.add_done_callback(lambda _: self.tasks.pop(execution.id, None))

    async def _run(self, execution: Execution, plan: _Plan) -> None:
        clock, metrics = self.context.clock, self.context.metrics
        execution.start_time = clock.now()
        try:
            with metrics.look_seconds.labels(api=API).time():
                async with asyncio.timeout(self.settings.execution_timeout):
                    result = await judge(
                        self.context.source,
                        config=execution.config,
                        plans=plan.queries,
                        classifiers=plan.classifiers,
                        thresholds=plan.thresholds,
                        concurrency=self.settings.query_concurrency,
                    )
            execution.succeed(result, at=clock.now())
            verdict = result["judgeResult"]["score"]["classification"] or "none"
            metrics.judgements.labels(verdict=verdict.lower(), api=API).inc()
        except TimeoutError:
            execution.fail(
                f"the execution did not finish within {self.settings.execution_timeout:g}"
                " s (kayenta.executionTimeout)",
                at=clock.now(),
            )
        except AuspiceError as error:
            execution.fail(error, at=clock.now())
        except asyncio.CancelledError:
            raise  # shutdown: the stored record stays "running" and is rerun later
        except Exception as error:  # a bug must not leave a client polling forever
            self.log.exception("kayenta execution crashed", extra={"event": "kayenta.crash"})
            execution.fail(
                f"internal error ({type(error).__name__}); the service log has the details",
                at=clock.now(),
            )
        log_event(
            self.log,
            "kayenta.execution",
            execution=execution.id,
            status=execution.state.value,
            score=(execution.result or {}).get("judgeResult", {}).get("score", {}).get("score"),
        )
        try:
            await self.db.save_execution(execution)
        except AuspiceError as error:
            log_event(
                self.log,
                "kayenta.store.error",
                level=logging.ERROR,
                execution=execution.id,
                error=str(error),
            )

    async def start(
        self,
        *,
        config_id: str,
        config: CanaryConfig,
        request: ExecutionRequest,
        plan: _Plan,
        params: Mapping[str, str],
        who: Principal,
    ) -> Execution:
        if len(self.tasks) >= self.settings.max_running:
            raise ApiError(
                429,
                f"{len(self.tasks)} canary executions are running, the limit"
                " (kayenta.maxRunning); try again when one has finished",
                headers={"Retry-After": "15"},
            )
        execution = Execution(
            id=str(uuid.uuid4()),
            config_id=config_id,
            config=config,
            request=request,
            build_time=self.context.clock.now(),
            application=params.get("application") or AD_HOC,
            parent_pipeline_execution_id=params.get("parentPipelineExecutionId")
            or "no-parent-pipeline-execution",
            accounts={
                k: params[k]
                for k in ("metricsAccountName", "storageAccountName", "configurationAccountName")
                if params.get(k)
            },
        )
        await self.db.save_execution(execution)  # durable before the id is handed out
        await self.context.store.audit.append(
            who=who.name,
            what="kayenta.canary.start",
            details={
                "execution": execution.id,
                "canaryConfigId": config_id,
                "configName": config.name,
                "application": execution.application,
                "scopes": request.wire()["scopes"],
            },
        )
        self.remember(execution)
        self.launch(execution, plan)
        return execution

    async def find(self, execution_id: str) -> Execution | None:
        """The execution, from memory or the store; a stored, unfinished one whose task
        died with the previous process is run again."""
        if execution_id in self.executions:
            return self.executions[execution_id]
        execution = await self.db.execution(execution_id)
        if execution is None:
            return None
        if execution_id in self.executions:  # another request loaded it meanwhile
            return self.executions[execution_id]
        self.remember(execution)
        if not execution.state.complete and execution_id not in self.tasks:
            try:
                plan = self.plan(execution.config, execution.request)
            except ApiError as error:
                execution.fail(error.message, at=self.context.clock.now())
                await self.db.save_execution(execution)
            else:
                log_event(self.log, "kayenta.execution.resumed", execution=execution_id)
                self.launch(execution, plan)
        return execution


KAYENTA: web.AppKey[KayentaService] = web.AppKey("auspice_kayenta", KayentaService)


def _service(request: web.Request) -> KayentaService:
    return request.app[KAYENTA]


def _caller(request: web.Request, role: Role) -> Principal:
    """Like :func:`require_role`, plus ``kayenta.allowAnonymous`` for token-less callers."""
    service = _service(request)
    anonymous = service.settings.allow_anonymous
    if anonymous is not None and bearer_token(request) is None:
        principal = Principal(ANONYMOUS, Role.named(anonymous))
        if principal.may(role):
            return principal
    return require_role(request, role)


def _params(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in request.query.items()}


# ---------------------------------------------------------------------------- routes


async def list_configs(request: web.Request) -> web.Response:
    _caller(request, Role.VIEWER)
    wanted = {
        a.strip()
        for value in request.query.getall("application", [])
        for a in value.split(",")
        if a.strip()
    }
    listing = [
        config.summary(config_id)
        for config_id, config in sorted(_service(request).configs.items())
        if not wanted or wanted & set(config.applications)
    ]
    return web.json_response(listing)


def _config(request: web.Request, config_id: str) -> CanaryConfig:
    config = _service(request).configs.get(config_id)
    if config is None:
        raise ApiError(
            404,
            f"No canary config found with id {config_id!r}",
            field="canaryConfigId",
            hint="list the configs with GET /canaryConfig",
        )
    return config


async def get_config(request: web.Request) -> web.Response:
    _caller(request, Role.VIEWER)
    config_id = request.match_info["configId"]
    return web.json_response({**_config(request, config_id).wire(), "id": config_id})


def _stamped(config: CanaryConfig, config_id: str, now: float, *, update: bool) -> CanaryConfig:
    """``config`` with its id and Kayenta's created/updated time stamps filled in."""
    now_ms = int(now * 1000)
    created = config.created_timestamp or now_ms
    updated = now_ms if update else (config.updated_timestamp or created)
    return config.model_copy(
        update={
            "id": config_id,
            "created_timestamp": created,
            "updated_timestamp": updated,
            "created_timestamp_iso": iso_time(created / 1000),
            "updated_timestamp_iso": iso_time(updated / 1000),
        }
    )


def _posted(service: KayentaService, config_id: str) -> None:
    """ApiError unless ``config_id`` is a config posted through the API."""
    if config_id in service.file_configs:
        raise ApiError(
            409,
            f"canary config {config_id!r} comes from kayenta.configDirectory",
            field="canaryConfigId",
            hint="change the file in the config directory and restart the service",
        )
    if config_id not in service.configs:
        raise ApiError(404, f"No canary config found with id {config_id!r}", field="canaryConfigId")


async def post_config(request: web.Request) -> web.Response:
    who = _caller(request, Role.OPERATOR)
    service = _service(request)
    config = _validate(CanaryConfig, await _json_body(request))
    config_id = config.id or str(uuid.uuid4())
    if config_id in service.configs:
        raise ApiError(400, f"Canary config {config_id!r} already exists.", field="id")
    config = _stamped(config, config_id, service.context.clock.now(), update=False)
    await service.store_config(config_id, config)
    await service.context.store.audit.append(
        who=who.name,
        what="kayenta.config.create",
        details={"canaryConfigId": config_id, "name": config.name},
    )
    return web.json_response({"canaryConfigId": config_id})


async def put_config(request: web.Request) -> web.Response:
    who = _caller(request, Role.OPERATOR)
    service = _service(request)
    config_id = request.match_info["configId"]
    config = _validate(CanaryConfig, await _json_body(request))
    _posted(service, config_id)
    if config.id not in (None, config_id):
        raise ApiError(400, f"the body's id {config.id!r} is not {config_id!r}", field="id")
    previous = service.configs[config_id]
    if config.created_timestamp is None:
        config = config.model_copy(update={"created_timestamp": previous.created_timestamp})
    config = _stamped(config, config_id, service.context.clock.now(), update=True)
    await service.store_config(config_id, config)
    await service.context.store.audit.append(
        who=who.name,
        what="kayenta.config.update",
        details={"canaryConfigId": config_id, "name": config.name},
    )
    return web.json_response({"canaryConfigId": config_id})


async def delete_config(request: web.Request) -> web.Response:
    who = _caller(request, Role.OPERATOR)
    service = _service(request)
    config_id = request.match_info["configId"]
    _posted(service, config_id)
    await service.delete_config(config_id)
    await service.context.store.audit.append(
        who=who.name, what="kayenta.config.delete", details={"canaryConfigId": config_id}
    )
    return web.Response(status=204)


async def post_canary(request: web.Request) -> web.Response:
    who = _caller(request, Role.JUDGE)
    service = _service(request)
    config_id = request.match_info["configId"]
    body = await _json_body(request)
    config = _config(request, config_id)
    execution_request = _validate(ExecutionRequest, body)
    plan = service.plan(config, execution_request)
    execution = await service.start(
        config_id=config_id,
        config=config,
        request=execution_request,
        plan=plan,
        params=_params(request),
        who=who,
    )
    return web.json_response({"canaryExecutionId": execution.id})


async def post_adhoc(request: web.Request) -> web.Response:
    who = _caller(request, Role.JUDGE)
    service = _service(request)
    adhoc = _validate(AdhocExecutionRequest, await _json_body(request))
    plan = service.plan(
        adhoc.canary_config,
        adhoc.execution_request,
        config_prefix="canaryConfig.",
        request_prefix="executionRequest.",
    )
    params = {**_params(request), "application": AD_HOC, "parentPipelineExecutionId": AD_HOC}
    execution = await service.start(
        config_id=AD_HOC,
        config=adhoc.canary_config,
        request=adhoc.execution_request,
        plan=plan,
        params=params,
        who=who,
    )
    return web.json_response({"canaryExecutionId": execution.id})


async def get_canary(request: web.Request) -> web.Response:
    _caller(request, Role.VIEWER)
    execution_id = request.match_info["executionId"]
    execution = await _service(request).find(execution_id)
    if execution is None:
        raise ApiError(
            404, f"No canary execution found with id {execution_id!r}", field="canaryExecutionId"
        )
    return web.json_response(execution.status_response())


def add_routes(app: web.Application) -> None:
    """Mount the Kayenta-compatible API on ``app`` (which holds the service context)."""
    context = app[CONTEXT]
    settings = _settings(context.config.kayenta)
    service = KayentaService(context, settings)
    app[KAYENTA] = service
    app.router.add_get("/canaryConfig", list_configs)
    app.router.add_get("/canaryConfig/{configId}", get_config)
    app.router.add_post("/canaryConfig", post_config)
    app.router.add_put("/canaryConfig/{configId}", put_config)
    app.router.add_delete("/canaryConfig/{configId}", delete_config)
    app.router.add_post("/canary", post_adhoc)
    app.router.add_post("/canary/{configId}", post_canary)
    app.router.add_get("/canary/{executionId}", get_canary)
    app.on_startup.append(service.startup)
    app.on_shutdown.append(service.shutdown)
    add_paths(app, *kayenta_openapi.paths_and_schemas())


def _settings(data: Mapping[str, Any]) -> KayentaSettings:
    try:
        return KayentaSettings.model_validate(dict(data))
    except ValidationError as error:
        problems = "; ".join(
            f"kayenta.{_path(tuple(d['loc']), '')}: {d['msg']}"
            for d in error.errors(include_url=False)
        )
        raise ConfigError(f"serve config: {problems}") from None
