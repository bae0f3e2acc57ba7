"""Canary and stable weights on the HTTP routes of an Istio VirtualService.

The VirtualService belongs to somebody else (a Helm chart, Argo CD, Flux); Auspice owns
two numbers on a few named routes. So the write touches nothing else: it is a JSON
patch of exactly the ``weight`` fields, guarded by the ``resourceVersion`` just read.
A concurrent writer therefore gets us a 409 instead of a lost update; we re-read,
re-validate and retry with backoff, a bounded number of times.

One weight change costs three requests per cluster, and that is the budget the
fan-out benchmark holds us to: a GET (validate, find the JSON-patch indices, check
for drift), the PATCH, and a GET to read back and verify. Checking the
DestinationRule's subsets costs more requests, so it lives in :meth:`IstioRouter.preflight`,
run once before a rollout, not in the abort path.

Validation happens before any write: the route exists, both destinations are on it,
no third destination carries weight, and the weights are integers summing to 100.
Errors name the cluster, namespace, VirtualService and route.

Both ``networking.istio.io/v1`` (Istio >= 1.22) and ``v1beta1`` are served by the API
server for the same stored object; the target chooses which one to speak.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes.aio.client import CustomObjectsApi
from kubernetes.aio.client.exceptions import ApiException

from auspice.clock import Clock, RealClock
from auspice.errors import ClusterError, InputError
from auspice.specs.targets import Destination, IstioTarget
from auspice.traffic.clusters import ClusterInventory
from auspice.traffic.kube import kube_errors
from auspice.traffic.router import (
    DriftEvent,
    EventSink,
    SetOutcome,
    VerifyError,
    WeightDriftError,
    Weights,
)

log = logging.getLogger("auspice.traffic.istio")

GROUP = "networking.istio.io"
JSON_PATCH = "application/json-patch+json"


class RouteError(ClusterError):
    """The VirtualService does not have the routes or destinations the target names."""


class ConflictRetriesExhausted(ClusterError):
    """Every write attempt met a newer resourceVersion (409)."""


@dataclass(frozen=True)
class _Slot:
    """Where one route's two weights live inside ``spec.http``."""

    index: int
    name: str  # the route's name, or "#index" for an unnamed route
    stable: int  # position of the stable destination in route[]
    canary: int
    weights: Weights | None  # None when the current weights are not a valid pair


def _weight(entries: list[Any], position: int) -> Any:
    entry = entries[position]
    if "weight" not in entry:
        return 100 if len(entries) == 1 else 0
    return entry["weight"]


def _describe(destination: Any) -> str:
    if not isinstance(destination, dict):
        return "?"
    host, subset = destination.get("host", "?"), destination.get("subset")
    return f"{host} subset {subset}" if subset else str(host)


class IstioRouter:
    """:class:`~auspice.traffic.router.TrafficRouter` for Istio VirtualServices."""

    def __init__(
        self,
        inventory: ClusterInventory,
        target: IstioTarget,
        *,
        request_timeout: float = 10.0,
        max_conflict_retries: int = 5,
        backoff: float = 0.05,
        backoff_cap: float = 1.0,
        clock: Clock | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        self.inventory = inventory
        self.target = target
        self.request_timeout = request_timeout
        self.max_conflict_retries = max_conflict_retries
        self.backoff, self.backoff_cap = backoff, backoff_cap
        self.clock = clock or RealClock()
        self.on_event = on_event
        self._last_set: dict[str, Weights] = {}
        self._last_reported: dict[str, tuple[Weights | None, ...]] = {}

    # ---- memory of what we set

    def expect(self, cluster: str, weights: Weights | None) -> None:
        """Declare what Auspice last set in ``cluster`` (e.g. from the store after a restart)."""
        if weights is None:
            self._last_set.pop(cluster, None)
        else:
            self._last_set[cluster] = weights

    def expected(self, cluster: str) -> Weights | None:
        return self._last_set.get(cluster)

    # ---- the TrafficRouter interface

    async def get_weights(self, cluster: str) -> Weights:
        _, slots = await self._read(cluster)
        self._check_drift(cluster, slots, write=False, force=False)
        return self._single_value(cluster, slots)

    async def verify(self, cluster: str, weights: Weights) -> None:
        await self._verify(cluster, weights)

    async def _verify(self, cluster: str, weights: Weights) -> str | None:
        """Read back; raise unless every route has ``weights``; return the resourceVersion."""
        obj, slots = await self._read(cluster)
        wrong = [slot for slot in slots if slot.weights != weights]
        if wrong:
            found = ", ".join(f"route {s.name!r}: {s.weights or 'invalid'}" for s in wrong)
            raise VerifyError(
                f"cluster {cluster!r}, {self.target.where()}: expected {weights}, found {found}"
            )
        return obj["metadata"].get("resourceVersion")

    async def set_weights(
        self, cluster: str, weights: Weights, *, force: bool = False
    ) -> SetOutcome:
        conflicts = 0
        while True:
            obj, slots = await self._read(cluster)
            self._check_drift(cluster, slots, write=True, force=force)
            previous = self._common(slots)
            if all(slot.weights == weights for slot in slots):
                self._last_set[cluster] = weights
                return SetOutcome(
                    cluster,
                    weights,
                    previous,
                    conflicts,
                    changed=False,
                    resource_version=obj["metadata"].get("resourceVersion"),
                )
            version = obj["metadata"]["resourceVersion"]
            if await self._patch(cluster, version, slots, weights):
                break
            conflicts += 1
            if conflicts > self.max_conflict_retries:
                raise ConflictRetriesExhausted(
                    f"cluster {cluster!r}, {self.target.where()}: every one of "
                    f"{conflicts} writes met a newer version (409 Conflict)",
                    hint="another controller keeps rewriting this VirtualService; see "
                    "docs/traffic.md on ignoreDifferences",
                )
            await self.clock.sleep(self._delay(conflicts))
        written_version = await self._verify(cluster, weights)
        self._last_set[cluster] = weights
        self._last_reported.pop(cluster, None)
        return SetOutcome(
            cluster, weights, previous, conflicts, changed=True, resource_version=written_version
        )

    # ---- preflight (more requests; run once before a rollout, not when aborting)

    async def preflight(self, cluster: str) -> None:
        """Check routes, destinations and DestinationRule subsets exist in ``cluster``.

        A subset missing from the DestinationRule is not visible in the VirtualService
        (the route names it either way), but once weight goes to it Istio answers 503
        "no healthy upstream" for that share of the traffic. The error therefore names
        the routes that would send traffic there, not only the DestinationRule.
        """
        _, slots = await self._read(cluster)
        routes = [slot.name for slot in slots]
        for destination in (self.target.stable, self.target.canary):
            if destination.subset is not None:
                await self._check_subset(cluster, destination, routes)

    async def _check_subset(
        self, cluster: str, destination: Destination, routes: Sequence[str]
    ) -> None:
        api = CustomObjectsApi(await self.inventory.api_client(cluster))
        namespace = self.target.namespace
        with kube_errors(cluster, f"list DestinationRules in namespace {namespace!r}"):
            listing = await api.list_namespaced_custom_object(
                GROUP,
                self.target.api_version,
                namespace,
                "destinationrules",
                _request_timeout=self.request_timeout,
            )
        short = destination.host.split(".")[0]
        where = f"cluster {cluster!r}, {self.target.where(*routes)}"
        for rule in listing.get("items", []):
            host = (rule.get("spec") or {}).get("host", "")
            if host == destination.host or host.split(".")[0] == short:
                names = [s.get("name") for s in (rule.get("spec") or {}).get("subsets") or []]
                if destination.subset in names:
                    return
                raise RouteError(
                    f"{where}: subset {destination.subset!r} is not defined in "
                    f"DestinationRule {rule['metadata']['name']!r} for host {host!r} "
                    f"(subsets: {names}); nothing was written"
                )
        raise RouteError(
            f"{where}: no DestinationRule in namespace {namespace!r} defines subsets for "
            f"host {destination.host!r} (needed for subset {destination.subset!r}); "
            "nothing was written"
        )

    # ---- reading and locating

    async def _read(self, cluster: str) -> tuple[dict[str, Any], list[_Slot]]:
        api = CustomObjectsApi(await self.inventory.api_client(cluster))
        target = self.target
        action = (
            f"get VirtualService {target.namespace}/{target.virtual_service} "
            f"({GROUP}/{target.api_version})"
        )
        with kube_errors(cluster, action):
            obj = await api.get_namespaced_custom_object(
                GROUP,
                target.api_version,
                target.namespace,
                "virtualservices",
                target.virtual_service,
                _request_timeout=self.request_timeout,
            )
        return obj, self._locate(cluster, obj)

    def _locate(self, cluster: str, obj: dict[str, Any]) -> list[_Slot]:
        routes = (obj.get("spec") or {}).get("http") or []
        target = self.target
        if target.routes:
            by_name = {r.get("name"): i for i, r in enumerate(routes) if isinstance(r, dict)}
            chosen = []
            for name in target.routes:
                if name not in by_name:
                    known = sorted(str(n) for n in by_name if n) or ["none named"]
                    raise RouteError(
                        f"cluster {cluster!r}, {target.where(name)}: no HTTP route with that "
                        f"name (routes: {', '.join(known)}); nothing was written"
                    )
                chosen.append(self._slot(cluster, routes, by_name[name], name, required=True))
            return [slot for slot in chosen if slot is not None]
        found = [self._slot(cluster, routes, i, None, required=False) for i in range(len(routes))]
        slots = [slot for slot in found if slot is not None]
        if not slots:
            raise RouteError(
                f"cluster {cluster!r}, {target.where()}: no HTTP route carries both "
                f"{target.stable} and {target.canary}; nothing was written"
            )
        return slots

    def _slot(
        self, cluster: str, routes: Sequence[Any], index: int, name: str | None, *, required: bool
    ) -> _Slot | None:
        route = routes[index] if isinstance(routes[index], dict) else {}
        label = name or route.get("name") or f"#{index}"
        entries = [e for e in route.get("route") or [] if isinstance(e, dict)]
        stable = [
            i for i, e in enumerate(entries) if self.target.stable.matches(e.get("destination"))
        ]
        canary = [
            i for i, e in enumerate(entries) if self.target.canary.matches(e.get("destination"))
        ]
        where = f"cluster {cluster!r}, {self.target.where(label)}"
        if not stable or not canary:
            if not required:
                return None
            missing = [
                str(d)
                for d, hits in ((self.target.stable, stable), (self.target.canary, canary))
                if not hits
            ]
            present = [_describe(e.get("destination")) for e in entries]
            raise RouteError(
                f"{where}: destination {' and '.join(missing)} is not on the route "
                f"(destinations: {', '.join(present) or 'none'}); nothing was written"
            )
        if len(stable) > 1 or len(canary) > 1:
            raise RouteError(
                f"{where}: the stable or canary destination appears twice; nothing was written"
            )
        others = [
            i
            for i in range(len(entries))
            if i not in (stable[0], canary[0]) and _weight(entries, i) not in (0, None)
        ]
        if others:
            raise RouteError(
                f"{where}: a third destination carries weight, so canary+stable cannot sum to "
                "100; nothing was written"
            )
        try:
            weights: Weights | None = Weights(
                canary=_weight(entries, canary[0]), stable=_weight(entries, stable[0])
            )
        except InputError:
            weights = None
        return _Slot(index, label, stable[0], canary[0], weights)

    def _single_value(self, cluster: str, slots: list[_Slot]) -> Weights:
        """The one value all routes have; an error when they disagree or are invalid."""
        value = self._common(slots)
        if value is None:
            found = ", ".join(f"route {s.name!r}: {s.weights or 'invalid'}" for s in slots)
            raise VerifyError(
                f"cluster {cluster!r}, {self.target.where()}: routes disagree ({found})"
            )
        return value

    @staticmethod
    def _common(slots: list[_Slot]) -> Weights | None:
        values = {slot.weights for slot in slots}
        return slots[0].weights if len(values) == 1 else None

    # ---- drift

    def _check_drift(self, cluster: str, slots: list[_Slot], *, write: bool, force: bool) -> None:
        """Report weights that differ from the ones last set; refuse a write over them.

        Reads report a given drift once (not at every poll); a forced write reports it
        every time, because overwriting somebody's change is an action worth an event.
        """
        expected = self._last_set.get(cluster)
        if expected is None:
            return
        drifted = [slot for slot in slots if slot.weights != expected]
        if not drifted:
            self._last_reported.pop(cluster, None)
            return
        found = drifted[0].weights or Weights.all_stable()
        overwriting = write and force
        event = DriftEvent(
            cluster, self.target.where(drifted[0].name), expected, found, overwriting
        )
        signature = tuple(slot.weights for slot in slots)
        if self._last_reported.get(cluster) != signature or overwriting:
            self._last_reported[cluster] = signature
            log.warning("%s", event)
            if self.on_event is not None:
                self.on_event(event)
        if write and not force:
            raise WeightDriftError(event)

    # ---- writing

    async def _patch(
        self, cluster: str, version: str, slots: list[_Slot], weights: Weights
    ) -> bool:
        """One guarded JSON patch; False when it met a newer resourceVersion (409)."""
        operations: list[dict[str, Any]] = [
            {"op": "replace", "path": "/metadata/resourceVersion", "value": version}
        ]
        for slot in slots:
            base = f"/spec/http/{slot.index}/route"
            operations.append(
                {"op": "add", "path": f"{base}/{slot.stable}/weight", "value": weights.stable}
            )
            operations.append(
                {"op": "add", "path": f"{base}/{slot.canary}/weight", "value": weights.canary}
            )
        api = CustomObjectsApi(await self.inventory.api_client(cluster))
        target = self.target
        action = f"patch VirtualService {target.namespace}/{target.virtual_service} weights"
        try:
            with kube_errors(cluster, action, passthrough=(409,)):
                await api.patch_namespaced_custom_object(
                    GROUP,
                    target.api_version,
                    target.namespace,
                    "virtualservices",
                    target.virtual_service,
                    operations,
                    _content_type=JSON_PATCH,
                    _request_timeout=self.request_timeout,
                )
        except ApiException as error:
            if error.status == 409:
                log.info("cluster %r: 409 on %s, re-reading", cluster, action)
                return False
            raise
        return True

    def _delay(self, attempt: int) -> float:
        base = min(self.backoff_cap, self.backoff * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)
