"""A Kubernetes API test server that the real ``kubernetes.aio`` client talks to.

No kube-apiserver can run here, and a mocked client would test our assumptions about
the wire instead of the wire. So each :class:`KubeApiServer` is a small aiohttp server
on 127.0.0.1 that speaks enough of the Kubernetes REST API for Auspice's traffic,
inventory and (later) leader-election code: several instances act as several clusters.

What it models of the real API server:

- Paths: core ``/api/v1/namespaces/{ns}/{plural}[/{name}]`` and group
  ``/apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}]`` for any plural, so
  VirtualServices, DestinationRules, Secrets, coordination.k8s.io Leases, Argo CD
  Applications and Flux Kustomizations all work. A group object is stored once and
  served under every version (``networking.istio.io/v1`` and ``v1beta1`` see the same
  VirtualService, ``apiVersion`` rewritten as the real server's conversion would).
- Verbs: GET (object and list, with ``labelSelector`` equality/existence terms),
  POST, PUT, PATCH, DELETE. Answers and errors are ``Status`` objects with the real
  ``reason`` names and codes (401 Unauthorized, 403 Forbidden, 404 NotFound,
  409 AlreadyExists/Conflict, 415, 422 Invalid, 400 BadRequest).
- resourceVersion: one counter per server (like etcd's revision), bumped by every
  write. PUT and PATCH with a resourceVersion that is not the current one give
  409 Conflict with the real "the object has been modified" message. PUT of a custom
  object without a resourceVersion is 422 (custom resources do not allow
  unconditional updates); core objects allow it.
- PATCH content types: ``application/merge-patch+json`` (RFC 7386),
  ``application/json-patch+json`` (RFC 6902, every op incl. ``test``; a failed op is
  422), ``application/apply-patch+yaml`` (server-side apply, requires ``fieldManager``;
  lists are atomic, as for a CRD without list-type markers) and, for core objects
  only, ``application/strategic-merge-patch+json`` (treated as a merge patch; custom
  objects answer 415 as the real server does).
- Authentication: ``Authorization: Bearer <token>`` (scheme case-insensitive) must be
  the instance's token, else 401. :meth:`KubeApiServer.forbid` makes (verb, plural)
  pairs answer 403 as RBAC would.
- Admission: stored VirtualServices are validated at least as strictly as Istio's
  webhook is for weights (each destination has a host, every weight is an integer in
  0..100, a route with several destinations sums to 100): 400 with the webhook's wording.
- Faults: per-request latency, the next N requests answering 5xx, dropped connections,
  a concurrent writer that changes an object just before a client write lands (so the
  client's resourceVersion is stale), and going down entirely (connection refused).
- Counting: every request is recorded as (verb, path) for assertions and benchmarks,
  and an :class:`InFlight` gauge, which several servers can share, records how many
  requests were being served at once (and can hold them until that many arrive).

What it does not model: watches, pagination (``limit``/``continue``), field selectors,
set-based label selectors, cluster-scoped resources, subresources (``/status``,
``/scale``), managedFields and apply conflicts between field managers, strategic
merge patch semantics (patchMergeKey), defaulting and OpenAPI schema validation,
finalizers and graceful deletion, generateName, TLS (plain HTTP on 127.0.0.1),
API discovery, and RBAC beyond the explicit ``forbid`` list.

The package splits it by concern: :mod:`.errors` (the error answer and object identity),
:mod:`.patches` (how writes change objects), :mod:`.admission` (Istio's webhook),
this module (the server, its faults, the fixture), :mod:`.objects` (what tests seed).

Use::

    async with kube_api_servers(3) as servers:
        servers[0].seed(virtual_service)
        client_configuration = servers[0].configuration()
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from aiohttp import web

from support.kube.admission import admit
from support.kube.errors import JSON, KIND_OF_PLURAL, ApiError, ObjectKey, key_of
from support.kube.patches import apply_merge, json_patch, merge_patch

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"


# ------------------------------------------------------------------------------ faults


@dataclass
class Faults:
    """What goes wrong on this server; tests change the fields directly."""

    latency: float = 0.0  # seconds added to every request
    error_status: int = 503  # status of injected failures
    fail_next: int = 0  # that many next requests answer ``error_status``
    # That many next requests get their connection closed without an answer. aiohttp's
    # client retries a request once when a kept-alive connection drops, so one dropped
    # request is invisible to it; set 2 or more to make a client see the failure.
    drop_next: int = 0
    # Called with the stored object just before the next client write to it lands.
    writers: dict[ObjectKey, list[Callable[[JSON], None]]] = field(default_factory=dict)
    # Called with the stored object just after a client write to it was stored.
    reactors: dict[ObjectKey, list[Callable[[JSON], None]]] = field(default_factory=dict)


class InFlight:
    """How many requests are being served at once, on one server or on several sharing it.

    A fan-out that went sequential would still pass every test that only checks results,
    and a timed assertion ("three clusters in under 1.5 round trips") is flaky on a busy
    machine. So concurrency is asserted on ``peak`` instead: the most requests this gauge
    saw in the middle of being served at the same moment. Share one gauge across the
    servers of a test (:meth:`share`) and ``peak`` is the number of clusters that had a
    request in flight together.

    ``gather`` makes ``peak`` deterministic rather than a race against injected latency:
    every request is held until ``gather`` requests are in flight at once, and from then
    on nothing is held. If they never all arrive (the client is sequential), a held
    request gives up after ``limit`` seconds of wall time, holding stops for good and
    the test finishes, failing on ``peak`` instead of hanging.
    """

    def __init__(self, *, gather: int = 0, limit: float = 5.0) -> None:
        self.current = 0
        self.peak = 0
        self.gather = gather
        self.limit = limit
        self.gave_up = False
        self._released = asyncio.Event()

    def share(self, servers: Iterable[KubeApiServer]) -> InFlight:
        """Make ``servers`` count their requests on this gauge; returns it."""
        for server in servers:
            server.in_flight = self
        return self

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[None]:
        self.current += 1
        self.peak = max(self.peak, self.current)
        try:
            if self.current >= self.gather:
                self._released.set()
            if not self._released.is_set():
                try:
                    await asyncio.wait_for(self._released.wait(), self.limit)
                except TimeoutError:
                    self.gave_up = True
                    self._released.set()
            yield
        finally:
            self.current -= 1


def parse_label_selector(text: str) -> Callable[[dict[str, str]], bool]:
    """Equality-based label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``."""
    terms: list[Callable[[dict[str, str]], bool]] = []
    for raw in filter(None, (part.strip() for part in text.split(","))):
        if "!=" in raw:
            k, v = (s.strip() for s in raw.split("!=", 1))
            terms.append(lambda labels, k=k, v=v: labels.get(k) != v)
        elif "=" in raw:
            k, v = (s.strip() for s in raw.replace("==", "=").split("=", 1))
            terms.append(lambda labels, k=k, v=v: labels.get(k) == v)
        elif raw.startswith("!"):
            absent = raw[1:].strip()
            terms.append(lambda labels, k=absent: k not in labels)
        elif " " in raw or "(" in raw:
            raise ApiError(400, "BadRequest", f"unsupported label selector term {raw!r}")
        else:
            terms.append(lambda labels, k=raw: k in labels)
    return lambda labels: all(term(labels) for term in terms)


# ------------------------------------------------------------------------------ server


class KubeApiServer:
    """One fake cluster: its own token, store, faults and request log."""

    def __init__(self, name: str, *, token: str | None = None) -> None:
        self.name = name
        self.token = token or secrets.token_urlsafe(24)
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []
        self.in_flight = InFlight()
        self._objects: dict[ObjectKey, JSON] = {}
        self._revision = 1000
        self._forbidden: set[tuple[str, str]] = set()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0
        self._down = False

    # ---- lifecycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * 2**20)
        app.router.add_route(
            "*", "/api/{version}/namespaces/{namespace}/{plural}", self._collection
        )
        app.router.add_route(
            "*", "/api/{version}/namespaces/{namespace}/{plural}/{name}", self._item
        )
        base = "/apis/{group}/{version}/namespaces/{namespace}/{plural}"
        app.router.add_route("*", base, self._collection)
        app.router.add_route("*", base + "/{name}", self._item)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        if self.port == 0:
            server = self._site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def go_down(self) -> None:
        """Stop listening (connection refused) but keep the store, to come back later."""
        self._down = True  # requests on kept-alive connections are dropped from now on
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def come_back(self) -> None:
        self._down = False
        if self._site is None:
            await self._listen()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- client side helpers

    def configuration(self, *, token: str | None = None) -> Any:
        """A fresh ``kubernetes.aio`` Configuration pointing at this server."""
        from kubernetes.aio.client import Configuration

        bearer = self.token if token is None else token
        return Configuration(host=self.url, api_key={"BearerToken": f"Bearer {bearer}"})

    def kubeconfig_entry(self) -> tuple[JSON, JSON, JSON]:
        """(cluster, user, context) entries for a kubeconfig naming this server."""
        cluster = {"name": self.name, "cluster": {"server": self.url}}
        user = {"name": self.name, "user": {"token": self.token}}
        context = {"name": self.name, "context": {"cluster": self.name, "user": self.name}}
        return cluster, user, context

    # ---- store access for tests

    def seed(self, obj: JSON, *, validate: bool = True) -> JSON:
        """Store (create or replace) a full object as is; returns the stored copy."""
        obj = copy.deepcopy(obj)
        if validate:
            admit(obj)
        key = key_of(obj)
        obj["metadata"].setdefault("namespace", key.namespace)
        return self._store(key, obj)

    def get(self, obj_or_key: JSON | ObjectKey) -> JSON:
        key = obj_or_key if isinstance(obj_or_key, ObjectKey) else key_of(obj_or_key)
        return copy.deepcopy(self._objects[key])

    def update(self, obj_or_key: JSON | ObjectKey, mutate: Callable[[JSON], None]) -> JSON:
        """Change a stored object as another writer would (validated, rv bumped)."""
        key = obj_or_key if isinstance(obj_or_key, ObjectKey) else key_of(obj_or_key)
        obj = copy.deepcopy(self._objects[key])
        mutate(obj)
        admit(obj)
        return self._store(key, obj)

    def concurrent_writer(
        self,
        obj_or_key: JSON | ObjectKey,
        mutate: Callable[[JSON], None] | None = None,
        *,
        times: int = 1,
    ) -> None:
        """Before each of the next ``times`` client writes to the object, change it first.

        The default change touches an annotation, as a GitOps controller syncing labels
        would, so the client's resourceVersion is stale and its write gets a 409.
        """
        key = obj_or_key if isinstance(obj_or_key, ObjectKey) else key_of(obj_or_key)

        def touch(obj: JSON) -> None:
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations["test/touched"] = str(int(annotations.get("test/touched", "0")) + 1)

        self.faults.writers.setdefault(key, []).extend([mutate or touch] * times)

    def reacting_writer(
        self, obj_or_key: JSON | ObjectKey, mutate: Callable[[JSON], None], *, times: int = 1
    ) -> None:
        """Right after each of the next ``times`` client writes lands, change the object.

        Models a controller that reacts to the write at once (a GitOps self-heal without
        ignoreDifferences): the writer's answer looks fine, a read-back does not.
        """
        key = obj_or_key if isinstance(obj_or_key, ObjectKey) else key_of(obj_or_key)
        self.faults.reactors.setdefault(key, []).extend([mutate] * times)

    def forbid(self, verb: str, plural: str) -> None:
        """Answer 403 to ``verb`` (get, list, create, update, patch, delete) on ``plural``."""
        self._forbidden.add((verb, plural))

    def count(self, method: str | None = None, *, path_contains: str = "") -> int:
        return sum(
            1
            for verb, path in self.requests
            if (method is None or verb == method) and path_contains in path
        )

    def counts(self) -> Counter[str]:
        return Counter(verb for verb, _ in self.requests)

    def writes(self) -> int:
        return sum(1 for verb, _ in self.requests if verb in ("POST", "PUT", "PATCH", "DELETE"))

    # ---- internals

    def _store(self, key: ObjectKey, obj: JSON) -> JSON:
        self._revision += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._revision)
        meta.setdefault("uid", f"uid-{self.name}-{self._revision}")
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        meta["generation"] = int(meta.get("generation", 0)) + 1
        self._objects[key] = obj
        return copy.deepcopy(obj)

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if not self._down:
            self.requests.append((request.method, request.path))
        async with self.in_flight.serving():
            return await self._serve(request, handler)

    async def _serve(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        if self._down or self.faults.drop_next > 0:
            self.faults.drop_next = max(0, self.faults.drop_next - 1)
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if self.faults.fail_next > 0:
            self.faults.fail_next -= 1
            code = self.faults.error_status
            return ApiError(code, "InternalError", f"injected failure {code}").response()
        try:
            self._authenticate(request)
            return await handler(request)
        except ApiError as error:
            return error.response()

    def _authenticate(self, request: web.Request) -> None:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            credential.strip().encode(), self.token.encode()
        ):
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _authorize(self, verb: str, key: ObjectKey, request: web.Request) -> None:
        if (verb, key.plural) in self._forbidden:
            group = key.group or '""'
            message = (
                f'{key.describe()} is forbidden: User "system:serviceaccount:test:auspice" '
                f'cannot {verb} resource "{key.plural}" in API group {group} '
                f'in the namespace "{key.namespace}"'
            )
            raise ApiError(403, "Forbidden", message)

    def _key(self, request: web.Request, name: str | None = None) -> ObjectKey:
        info = request.match_info
        return ObjectKey(info.get("group", ""), info["plural"], info["namespace"], name or "")

    def _present(self, obj: JSON, request: web.Request) -> JSON:
        obj = copy.deepcopy(obj)
        group = request.match_info.get("group")
        version = request.match_info["version"]
        obj["apiVersion"] = f"{group}/{version}" if group else version
        return obj

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            if request.content_type == APPLY_PATCH.split(";")[0]:
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as error:
            raise ApiError(400, "BadRequest", f"cannot decode request body: {error}") from None

    async def _collection(self, request: web.Request) -> web.StreamResponse:
        key = self._key(request)
        if request.method == "GET":
            self._authorize("list", key, request)
            return self._list(request, key)
        if request.method == "POST":
            self._authorize("create", key, request)
            body = await self._body(request)
            name = (body.get("metadata") or {}).get("name")
            if not name:
                raise ApiError(422, "Invalid", "metadata.name: Required value: name is required")
            key = self._key(request, name)
            if key in self._objects:
                raise ApiError(409, "AlreadyExists", f"{key.describe()} already exists")
            self._check_version_free(body)
            return self._save(key, body, request, status=201)
        raise ApiError(405, "MethodNotAllowed", f"{request.method} is not supported here")

    def _list(self, request: web.Request, key: ObjectKey) -> web.Response:
        matches = parse_label_selector(request.query.get("labelSelector", ""))
        items = [
            self._present(obj, request)
            for stored_key, obj in sorted(self._objects.items(), key=lambda kv: kv[0].name)
            if (stored_key.group, stored_key.plural, stored_key.namespace)
            == (key.group, key.plural, key.namespace)
            and matches(obj["metadata"].get("labels") or {})
        ]
        for item in items:
            item.pop("apiVersion", None)
            item.pop("kind", None)
        kind = KIND_OF_PLURAL.get(key.plural, key.plural.capitalize())
        group, version = request.match_info.get("group"), request.match_info["version"]
        return web.json_response(
            {
                "kind": f"{kind}List",
                "apiVersion": f"{group}/{version}" if group else version,
                "metadata": {"resourceVersion": str(self._revision)},
                "items": items,
            }
        )

    async def _item(self, request: web.Request) -> web.StreamResponse:
        key = self._key(request, request.match_info["name"])
        verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
            request.method
        )
        if verb is None:
            raise ApiError(405, "MethodNotAllowed", f"{request.method} is not supported here")
        self._authorize(verb, key, request)
        if request.method == "PATCH" and request.content_type == APPLY_PATCH:
            return await self._apply(request, key)
        current = self._objects.get(key)
        if current is None:
            raise ApiError(
                404,
                "NotFound",
                f"{key.describe()} not found",
                {"name": key.name, "group": key.group, "kind": key.plural},
            )
        if request.method == "GET":
            return web.json_response(self._present(current, request))
        if request.method == "DELETE":
            del self._objects[key]
            self._revision += 1
            return web.json_response(self._present(current, request))
        body = await self._body(request)
        self._run_concurrent_writer(key)
        current = self._objects[key]
        if request.method == "PUT":
            return self._put(request, key, current, body)
        return self._patch(request, key, current, body)

    def _run_concurrent_writer(self, key: ObjectKey) -> None:
        pending = self.faults.writers.get(key)
        if pending:
            self.update(key, pending.pop(0))

    def _check_version_free(self, body: JSON) -> None:
        if (body.get("metadata") or {}).get("resourceVersion"):
            raise ApiError(
                422, "Invalid", "metadata.resourceVersion: Invalid value: must not be set on create"
            )

    def _conflict(self, key: ObjectKey) -> ApiError:
        message = (
            f"Operation cannot be fulfilled on {key.describe()}: the object has been modified; "
            "please apply your changes to the latest version and try again"
        )
        return ApiError(
            409, "Conflict", message, {"name": key.name, "group": key.group, "kind": key.plural}
        )

    def _put(self, request: web.Request, key: ObjectKey, current: JSON, body: JSON) -> web.Response:
        version = (body.get("metadata") or {}).get("resourceVersion")
        if not version and key.group:
            raise ApiError(
                422,
                "Invalid",
                "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
            )
        if version and version != current["metadata"]["resourceVersion"]:
            raise self._conflict(key)
        return self._save(key, body, request, previous=current)

    def _patch(
        self, request: web.Request, key: ObjectKey, current: JSON, body: Any
    ) -> web.Response:
        content_type = request.content_type
        if content_type == JSON_PATCH:
            try:
                patched = json_patch(current, body)
            except (ValueError, KeyError, TypeError, IndexError) as error:
                raise ApiError(
                    422,
                    "Invalid",
                    f"the server rejected our request due to an error in our request: {error}",
                ) from None
        elif content_type == MERGE_PATCH or (content_type == STRATEGIC_PATCH and not key.group):
            patched = merge_patch(current, body)
        else:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}",
            )
        if not isinstance(patched, dict):
            raise ApiError(422, "Invalid", "the patched object is not an object")
        version = (patched.get("metadata") or {}).get("resourceVersion")
        if version and version != current["metadata"]["resourceVersion"]:
            raise self._conflict(key)
        return self._save(key, patched, request, previous=current)

    async def _apply(self, request: web.Request, key: ObjectKey) -> web.Response:
        if not request.query.get("fieldManager"):
            raise ApiError(
                400,
                "BadRequest",
                "PATCH request with apply content type requires fieldManager to be set",
            )
        body = await self._body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "an apply patch must be an object")
        self._run_concurrent_writer(key)
        current = self._objects.get(key)
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version and (current is None or version != current["metadata"]["resourceVersion"]):
            raise self._conflict(key)
        merged = apply_merge(current or {}, body)
        return self._save(key, merged, request, previous=current, status=200 if current else 201)

    def _save(
        self,
        key: ObjectKey,
        obj: JSON,
        request: web.Request,
        *,
        previous: JSON | None = None,
        status: int = 200,
    ) -> web.Response:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if meta.get("name", key.name) != key.name:
            raise ApiError(422, "Invalid", "metadata.name: Invalid value: the name cannot change")
        if meta.get("namespace", key.namespace) != key.namespace:
            raise ApiError(400, "BadRequest", "the namespace of the object does not match")
        meta["name"], meta["namespace"] = key.name, key.namespace
        kind = KIND_OF_PLURAL.get(key.plural)
        if kind and obj.get("kind", kind) != kind:
            raise ApiError(400, "BadRequest", f"kind {obj.get('kind')!r} does not match {kind}")
        obj.setdefault("kind", kind or key.plural.capitalize())
        group, version = request.match_info.get("group"), request.match_info["version"]
        obj["apiVersion"] = f"{group}/{version}" if group else version
        if previous is not None:
            for kept in ("uid", "creationTimestamp", "generation"):
                if kept in previous["metadata"]:
                    meta[kept] = previous["metadata"][kept]
        admit(obj)
        stored = self._store(key, obj)
        reactors = self.faults.reactors.get(key)
        if reactors:
            self.update(key, reactors.pop(0))
        return web.json_response(self._present(stored, request), status=status)


# ---------------------------------------------------------------------- sample objects


# ------------------------------------------------------------------------ many clusters


@contextlib.asynccontextmanager
async def kube_api_servers(
    count: int, *, names: Sequence[str] | None = None
) -> AsyncIterator[list[KubeApiServer]]:
    """Start ``count`` servers on free 127.0.0.1 ports (named cluster-0.. by default)."""
    chosen = list(names) if names is not None else [f"cluster-{i}" for i in range(count)]
    if len(chosen) != count:
        raise ValueError("names must have exactly count entries")
    servers = [KubeApiServer(name) for name in chosen]
    try:
        await asyncio.gather(*(server.start() for server in servers))
        yield servers
    finally:
        await asyncio.gather(*(server.stop() for server in servers), return_exceptions=True)


