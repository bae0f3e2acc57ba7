"""The Istio router against the Kubernetes API test server, through the real client."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from support.kube import (
    SAMPLE_NAME,
    SAMPLE_NAMESPACE,
    InFlight,
    KubeApiServer,
    destination_rule,
    kube_api_servers,
    strip_weights,
    virtual_service,
    weights_in,
)

from auspice.clock import VirtualClock
from auspice.specs.targets import IstioTarget
from auspice.traffic.clusters import ClusterInventory
from auspice.traffic.fanout import Status, set_weights_everywhere
from auspice.traffic.istio import ConflictRetriesExhausted, IstioRouter, RouteError
from auspice.traffic.kube import ClusterNotFoundError, ClusterUnreachableError
from auspice.traffic.router import DriftEvent, TrafficRouter, VerifyError, WeightDriftError, Weights


def target(**overrides: Any) -> IstioTarget:
    """The sample target, as a user would write it (camelCase), with ``overrides``."""
    values: dict[str, Any] = {
        "namespace": SAMPLE_NAMESPACE,
        "virtualService": SAMPLE_NAME,
        "routes": ["primary"],
        "stable": {"host": "checkout", "subset": "stable"},
        "canary": {"host": "checkout", "subset": "canary"},
    }
    values.update(overrides)
    return IstioTarget.model_validate(values)


def router(
    inventory: ClusterInventory, events: list[DriftEvent] | None = None, **kw
) -> IstioRouter:
    kw.setdefault("clock", VirtualClock())
    return IstioRouter(
        inventory,
        kw.pop("target", target()),
        on_event=(events.append if events is not None else None),
        **kw,
    )


def assert_names_the_place(message: str, server: KubeApiServer, *words: str) -> None:
    """A configuration error must say where to look: the cluster, namespace and
    VirtualService, and the ``words`` particular to the error (route, subset, ...)."""
    for word in [
        f"cluster {server.name!r}",
        f"namespace {SAMPLE_NAMESPACE!r}",
        f"VirtualService {SAMPLE_NAME!r}",
        *words,
    ]:
        assert word in message, message


def test_istio_router_is_a_traffic_router(inventory: ClusterInventory) -> None:
    assert isinstance(router(inventory), TrafficRouter)


async def test_weights_move_in_the_three_clusters_a_selector_chooses(labelled_inventory) -> None:
    names = ["prod-eu-1", "prod-eu-2", "prod-us-1", "staging-eu-1", "prod-ap-1"]
    labels = {
        "prod-eu-1": {"env": "prod", "region": "eu"},
        "prod-eu-2": {"env": "prod", "region": "eu"},
        "prod-us-1": {"env": "prod", "region": "us"},
        "staging-eu-1": {"env": "staging", "region": "eu"},
        "prod-ap-1": {"env": "prod", "region": "ap"},
    }
    async with kube_api_servers(5, names=names) as servers:
        for server in servers:
            server.seed(virtual_service())
        before = {s.name: s.get(virtual_service()) for s in servers}
        async with labelled_inventory(servers, labels) as inventory:
            chosen = inventory.select(
                {
                    "matchLabels": {"env": "prod"},
                    "matchExpressions": [
                        {"key": "region", "operator": "In", "values": ["eu", "us"]}
                    ],
                }
            )
            assert [c.name for c in chosen] == ["prod-eu-1", "prod-eu-2", "prod-us-1"]
            report = await set_weights_everywhere(
                router(inventory), [c.name for c in chosen], Weights.canary_percent(25)
            )
        assert report.all_ok, report.summary()
        assert [r.status for r in report.results] == [Status.OK] * 3
        for server in servers:
            if server.name in {"prod-eu-1", "prod-eu-2", "prod-us-1"}:
                assert weights_in(server) == (75, 25)
                # one read, one write, one verify read
                assert [verb for verb, _ in server.requests] == ["GET", "PATCH", "GET"]
                after = server.get(virtual_service())
                assert strip_weights(after) == strip_weights(before[server.name])
            else:
                assert weights_in(server) == (100, 0)
                assert server.requests == []


async def test_v1beta1_and_host_based_destinations(labelled_inventory) -> None:
    async with kube_api_servers(1) as [server]:
        server.seed(virtual_service(subsets=False, api_version="networking.istio.io/v1beta1"))
        host_target = target(
            apiVersion="v1beta1",
            stable={"host": "checkout-stable"},
            canary={"host": "checkout-canary"},
        )
        async with labelled_inventory([server], {server.name: {}}) as inventory:
            istio = router(inventory, target=host_target)
            outcome = await istio.set_weights(server.name, Weights.canary_percent(40))
            assert outcome.previous == Weights.all_stable()
            assert await istio.get_weights(server.name) == Weights(canary=40, stable=60)
        assert weights_in(server) == (60, 40)
        assert all("/apis/networking.istio.io/v1beta1/" in path for _, path in server.requests)


async def test_every_route_with_both_destinations_when_no_route_is_named(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    istio = router(inventory, target=target(routes=[]))
    await istio.set_weights(servers[0].name, Weights.canary_percent(5))
    assert weights_in(servers[0]) == (95, 5)
    # the debug route has only the canary destination: untouched
    stored = servers[0].get(virtual_service())
    assert stored["spec"]["http"][0]["route"] == [
        {
            "destination": {"host": "checkout", "subset": "canary", "port": {"number": 8080}},
            "weight": 100,
        }
    ]


async def test_a_concurrent_writer_causes_a_409_that_is_retried_to_success(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    server = servers[1]
    server.concurrent_writer(virtual_service())
    report = await set_weights_everywhere(
        router(inventory), inventory.names, Weights.canary_percent(10)
    )
    result = report.by_cluster()[server.name]
    assert result.status is Status.CONFLICT_RETRIED
    assert result.outcome is not None and result.outcome.conflicts == 1
    assert weights_in(server) == (90, 10)
    stored = server.get(virtual_service())
    assert (
        stored["metadata"]["annotations"]["test/touched"] == "1"
    )  # the other writer's change kept
    assert server.count("PATCH") == 2
    assert [r.status for r in report.results if r.cluster != server.name] == [Status.OK] * 2


async def test_conflicts_that_never_end_fail_after_bounded_retries(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    server = servers[0]
    server.concurrent_writer(virtual_service(), times=10)
    istio = router(inventory, max_conflict_retries=2)
    with pytest.raises(ConflictRetriesExhausted, match=server.name):
        await istio.set_weights(server.name, Weights.canary_percent(10))
    assert server.count("PATCH") == 3
    assert weights_in(server) == (100, 0)


async def test_conflict_retries_back_off_exponentially_up_to_the_cap(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    """Retrying a 409 at once against a controller that keeps rewriting the object only
    adds load to its API server, so the wait between attempts must grow (jittered,
    doubling, capped). The concurrent writer runs as each PATCH arrives and notes the
    router's virtual time, so the gaps are exactly the router's sleeps, in no wall time.
    """
    clock = VirtualClock()
    arrivals: list[float] = []
    server = servers[0]
    server.concurrent_writer(virtual_service(), lambda _: arrivals.append(clock.now()), times=10)
    istio = router(inventory, clock=clock, max_conflict_retries=5, backoff=0.05, backoff_cap=0.3)
    with pytest.raises(ConflictRetriesExhausted):
        await istio.set_weights(server.name, Weights.canary_percent(10))
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(gaps) == 5
    # jitter keeps each wait in [base/2, base), so doubling bases never overlap
    assert 0 < gaps[0] < gaps[1] < gaps[2]
    assert all(0.15 <= gap <= 0.3 for gap in gaps[3:]), gaps  # capped at 0.3


async def test_drift_is_reported_and_not_overwritten(
    servers: list[KubeApiServer], inventory: ClusterInventory, events: list[DriftEvent]
) -> None:
    server = servers[0]
    istio = router(inventory, events)
    await istio.set_weights(server.name, Weights.canary_percent(10))
    assert events == []

    def someone_else(obj: dict) -> None:
        route = obj["spec"]["http"][1]["route"]
        route[0]["weight"], route[1]["weight"] = 50, 50

    server.update(virtual_service(), someone_else)
    writes_before = server.writes()
    with pytest.raises(WeightDriftError) as caught:
        await istio.set_weights(server.name, Weights.canary_percent(20))
    assert server.writes() == writes_before
    assert weights_in(server) == (50, 50)
    assert len(events) == 1
    event = events[0]
    assert (event.cluster, event.expected, event.found, event.overwritten) == (
        server.name,
        Weights(canary=10, stable=90),
        Weights(canary=50, stable=50),
        False,
    )
    assert "route 'primary'" in str(caught.value) and SAMPLE_NAME in str(caught.value)

    # polling reports the same drift once, not at every look
    assert await istio.get_weights(server.name) == Weights(canary=50, stable=50)
    assert len(events) == 1

    # a rollback forces: it overwrites and says so
    outcome = await istio.set_weights(server.name, Weights.all_stable(), force=True)
    assert outcome.previous == Weights(canary=50, stable=50)
    assert weights_in(server) == (100, 0)
    assert events[-1].overwritten is True and len(events) == 2


async def test_expect_restores_drift_detection_after_a_restart(
    servers: list[KubeApiServer], inventory: ClusterInventory, events: list[DriftEvent]
) -> None:
    istio = router(inventory, events)
    istio.expect(servers[0].name, Weights.canary_percent(30))
    with pytest.raises(WeightDriftError):
        await istio.set_weights(servers[0].name, Weights.canary_percent(40))
    assert servers[0].writes() == 0 and len(events) == 1


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"routes": ["primary", "canary-only"]}, ["route 'canary-only'", "no HTTP route"]),
        (
            {"canary": {"host": "checkout", "subset": "v2"}},
            ["route 'primary'", "checkout subset v2", "is not on the route"],
        ),
        ({"routes": ["legacy"]}, ["route 'legacy'", "is not on the route"]),
    ],
)
async def test_a_missing_route_or_subset_is_named_and_nothing_is_written(
    servers: list[KubeApiServer], inventory: ClusterInventory, overrides: dict, words: list[str]
) -> None:
    server = servers[2]
    with pytest.raises(RouteError) as caught:
        await router(inventory, target=target(**overrides)).set_weights(
            server.name, Weights.canary_percent(10)
        )
    assert_names_the_place(str(caught.value), server, *words)
    assert server.writes() == 0
    assert server.count("GET") == 1


async def test_a_missing_virtual_service_names_it(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    istio = router(inventory, target=target(virtualService="payments"))
    with pytest.raises(ClusterNotFoundError, match=r"shop/payments.*404"):
        await istio.get_weights(servers[0].name)


async def test_a_third_weighted_destination_is_refused(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    def add_mirror_weight(obj: dict) -> None:
        route = obj["spec"]["http"][1]["route"]
        route[0]["weight"] = 80
        route.append({"destination": {"host": "checkout", "subset": "old"}, "weight": 20})

    servers[0].update(virtual_service(), add_mirror_weight)
    with pytest.raises(RouteError, match="third destination"):
        await router(inventory).set_weights(servers[0].name, Weights.canary_percent(10))
    assert servers[0].writes() == 0


async def test_setting_the_current_weights_writes_nothing(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    outcome = await router(inventory).set_weights(servers[0].name, Weights.all_stable())
    assert outcome.changed is False
    assert servers[0].writes() == 0


async def test_verify_names_the_route_that_differs(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    istio = router(inventory)
    await istio.verify(servers[0].name, Weights.all_stable())
    with pytest.raises(VerifyError, match=r"route 'primary': canary=0 stable=100"):
        await istio.verify(servers[0].name, Weights.canary_percent(10))


def _drop_the_canary_subset(rule: dict) -> None:
    rule["spec"]["subsets"] = [s for s in rule["spec"]["subsets"] if s["name"] != "canary"]


def _rule_for_another_host(rule: dict) -> None:
    rule["spec"]["host"] = "payments"


@pytest.mark.parametrize(
    ("change_rule", "words"),
    [
        (
            _drop_the_canary_subset,
            ["subset 'canary' is not defined in DestinationRule 'checkout'", "['stable']"],
        ),
        (
            _rule_for_another_host,
            ["no DestinationRule in namespace 'shop'", "host 'checkout'", "subset 'stable'"],
        ),
    ],
    ids=["subset-missing", "no-rule-for-host"],
)
async def test_preflight_checks_destination_rule_subsets(
    servers: list[KubeApiServer], inventory: ClusterInventory, change_rule, words: list[str]
) -> None:
    """The VirtualService can name a subset the DestinationRule lacks (Istio accepts it
    and answers 503 for that traffic), so preflight must find it and say which route,
    in which cluster, would send traffic there."""
    istio = router(inventory)
    await istio.preflight(servers[0].name)
    server = servers[1]
    server.update(destination_rule(), change_rule)
    with pytest.raises(RouteError) as caught:
        await istio.preflight(server.name)
    assert_names_the_place(str(caught.value), server, "route 'primary'", *words)
    assert server.writes() == 0
    assert weights_in(server) == (100, 0)


async def test_a_down_cluster_and_a_401_fail_alone_with_a_clear_reason(
    servers: list[KubeApiServer], labelled_inventory
) -> None:
    down, healthy, unauthorized = servers
    inventory = labelled_inventory(servers, {s.name: {} for s in servers})
    unauthorized.token = "rotated-" + unauthorized.token  # our kubeconfig has the old one
    await down.go_down()
    async with inventory:
        report = await set_weights_everywhere(
            router(inventory, request_timeout=5), inventory.names, Weights.canary_percent(10)
        )
    results = report.by_cluster()
    assert results[healthy.name].status is Status.OK
    assert weights_in(healthy) == (90, 10)
    assert results[down.name].status is Status.FAILED
    assert f"cluster {down.name!r}" in results[down.name].reason
    assert "cannot reach the API server" in results[down.name].reason
    assert results[unauthorized.name].status is Status.FAILED
    assert "401" in results[unauthorized.name].reason
    assert unauthorized.token not in results[unauthorized.name].reason
    assert weights_in(unauthorized) == (100, 0)
    assert report.failed == [results[down.name], results[unauthorized.name]]


async def test_the_fanout_has_every_cluster_in_flight_at_once(labelled_inventory) -> None:
    """A sequential fan-out gets every result right, only slowly: an abort over fifty
    clusters would take fifty round trips. Results cannot tell, and a timed assertion
    would be flaky, so the servers share an in-flight gauge that holds each request until
    every reachable cluster has one in flight (a sequential fan-out never gets there, the
    hold gives up, and ``peak`` stays 1). The cluster answering 401 is one of them and is
    listed first, and a down cluster is listed too: both fail alone while the others move.
    """
    names = ["down", "unauthorized", "eu-1", "eu-2", "us-1"]
    async with kube_api_servers(len(names), names=names) as servers:
        down, unauthorized, *healthy = servers
        for server in servers:
            server.seed(virtual_service())
        gauge = InFlight(gather=len(servers) - 1).share(servers)  # "down" never answers
        inventory = labelled_inventory(servers, {s.name: {} for s in servers})
        unauthorized.token = "rotated-" + unauthorized.token
        await down.go_down()
        async with inventory:
            report = await set_weights_everywhere(
                router(inventory), names, Weights.canary_percent(10)
            )
    assert (gauge.peak, gauge.gave_up) == (4, False)
    assert [r.status for r in report.results] == [Status.FAILED] * 2 + [Status.OK] * 3
    assert "cannot reach the API server" in report.by_cluster()["down"].reason
    assert "401" in report.by_cluster()["unauthorized"].reason
    for server in healthy:
        assert weights_in(server) == (90, 10)
        assert [verb for verb, _ in server.requests] == ["GET", "PATCH", "GET"]


async def test_server_errors_forbidden_and_slow_clusters_fail_alone(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    failing, forbidden, slow = servers
    failing.faults.fail_next = 1
    forbidden.forbid("patch", "virtualservices")
    slow.faults.latency = 2.0
    report = await set_weights_everywhere(
        router(inventory), inventory.names, Weights.canary_percent(10), per_cluster_timeout=0.5
    )
    results = report.by_cluster()
    assert "answered 503" in results[failing.name].reason
    assert "forbidden (403)" in results[forbidden.name].reason
    assert "docs/traffic.md" in results[forbidden.name].reason
    assert "0.5s per-cluster timeout" in results[slow.name].reason
    assert not report.succeeded


async def test_dropped_connections_are_a_clear_failure(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    servers[0].faults.drop_next = 10
    with pytest.raises(Exception, match=r"cannot reach the API server") as caught:
        await router(inventory).set_weights(servers[0].name, Weights.canary_percent(10))
    assert servers[0].name in str(caught.value)


def test_targets_are_written_in_camel_case_only() -> None:
    with pytest.raises(Exception, match="virtual_service"):
        target(virtual_service="checkout")
    with pytest.raises(Exception, match="apiVersion"):
        target(apiVersion="v1alpha3")


def _reset_weights(obj: dict) -> None:
    route = obj["spec"]["http"][1]["route"]
    route[0]["weight"], route[1]["weight"] = 100, 0


async def test_a_write_undone_at_once_fails_verification(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    undone, fine, _ = servers
    undone.reacting_writer(virtual_service(), _reset_weights)
    report = await set_weights_everywhere(
        router(inventory), [undone.name, fine.name], Weights.canary_percent(10)
    )
    result = report.by_cluster()[undone.name]
    assert result.status is Status.FAILED
    assert "expected canary=10 stable=90, found route 'primary': canary=0 stable=100" in (
        result.reason or ""
    )
    assert [verb for verb, _ in undone.requests] == ["GET", "PATCH", "GET"]
    assert report.by_cluster()[fine.name].status is Status.OK


async def test_routes_that_disagree_are_reported_and_can_be_set(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    def second_route(obj: dict) -> None:
        route = dict(obj["spec"]["http"][1], name="secondary")
        route["route"] = [dict(d, weight=w) for d, w in zip(route["route"], (50, 50), strict=True)]
        obj["spec"]["http"].append(route)

    server = servers[0]
    server.update(virtual_service(), second_route)
    istio = router(inventory, target=target(routes=["primary", "secondary"]))
    with pytest.raises(VerifyError, match="routes disagree"):
        await istio.get_weights(server.name)
    outcome = await istio.set_weights(server.name, Weights.canary_percent(20))
    assert outcome.previous is None
    assert weights_in(server) == (80, 20) and weights_in(server, "secondary") == (80, 20)
    assert await istio.get_weights(server.name) == Weights.canary_percent(20)
    assert outcome.resource_version == server.get(virtual_service())["metadata"]["resourceVersion"]


async def test_every_request_has_a_timeout(
    servers: list[KubeApiServer], inventory: ClusterInventory
) -> None:
    servers[0].faults.latency = 2.0
    with pytest.raises(ClusterUnreachableError, match=r"'cluster-0'.*no answer before the request"):
        await router(inventory, request_timeout=0.2).get_weights(servers[0].name)
