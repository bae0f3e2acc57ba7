"""Faults of the metrics server, driven through ``Analysis`` and the real client.

``PrometheusSource`` talks to support.thanos_fake's server, which replays the answers
Prometheus and Thanos give when things go wrong. Each fault has one defined outcome:
a failed look (``FailedLook``, decision ERROR, the reason naming the query and the
server) or no data (NO DATA looks, FAIL after the no-data limit). Never a PASS, never an
exception out of ``Analysis``.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable

import pytest
from support.prometheus import free_port
from support.thanos_fake import (
    Reply,
    RequestRecord,
    ThanosFake,
    bad_data_400,
    execution_422,
    frontend_timeout_504,
    garbage_200,
    matrix_reply,
    unavailable_503,
    warning_reply,
)

from auspice.analysis import Analysis, FailedLook, analysis_from
from auspice.metrics.prometheus import PrometheusSource
from auspice.specs import library, parse_template
from auspice.stats import Decision, Verdict

START = 1_767_225_600.0
LOOKS = 12  # 2 minutes past maxDuration (10m)

TEMPLATE = """
apiVersion: auspice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: faults
spec:
  interval: 1m
  minDuration: 5m
  maxDuration: 10m
  noDataLimit: LIMIT
  metrics:
    - name: errors
      kind: counts
      tolerance: 1.5
      events: sum(increase(requests_total{code="500", version="{{version}}"}[{{interval}}]))
      total: sum(increase(requests_total{version="{{version}}"}[{{interval}}]))
    - name: cpu
      kind: gauge
      tolerance: 1.2
      batchSize: 3
      query: avg(cpu_per_request{version="{{version}}"})
"""

CANARY = {"version": "v2"}
BASELINE = {"version": "v1"}


def analysis(limit: int = 3) -> Analysis:
    template = parse_template(TEMPLATE.replace("LIMIT", str(limit)), source="faults.yaml")
    return analysis_from(template, canary=CANARY, baseline=BASELINE, start=START)


QUERIES = 6  # 2 counts roles + 1 gauge query, for each scope


def answer(value: Callable[[str, float], float]) -> Callable[[RequestRecord], Reply]:
    """A range answer on the request's grid; ``value(query, t)`` gives each point."""

    def respond(request: RequestRecord) -> Reply:
        query = request.params["query"]
        start, end = float(request.params["start"]), float(request.params["end"])
        step = float(request.params["step"])
        times = [start + i * step for i in range(math.floor((end - start) / step + 1e-9) + 1)]
        return matrix_reply([({}, [(t, value(query, t)) for t in times])])

    return respond


def same_for_both(query: str, t: float) -> float:
    """A healthy canary: same error rate and CPU per request as the baseline."""
    if "cpu_per_request" in query:  # a little deterministic noise, out of phase
        return 0.004 * (1 + 0.02 * math.sin(t / 60 + ('"v2"' in query)))
    return 5.0 if 'code="500"' in query else 1000.0


async def run(
    fake: ThanosFake, *, looks: int = LOOKS, limit: int = 3, **options: float
) -> tuple[list[Verdict | FailedLook], Verdict | FailedLook]:
    source_options = {"timeout": 5.0, "backoff": 0.0, "retries": 2, **options}
    now = START + looks * 60
    async with PrometheusSource(fake.url, **source_options) as source:
        job = analysis(limit)
        return await job.replay(source, now), await job.look(source, now)


def assert_failed_look(look: Verdict | FailedLook, server: str, *what: str) -> None:
    assert isinstance(look, FailedLook), look
    assert look.decision is Decision.ERROR
    assert (
        "query 'sum(increase(requests_total" in look.reason
        or "query 'avg(cpu_per_request" in look.reason
    ), look.reason
    assert server in look.reason, look.reason
    for text in what:
        assert text in look.reason, look.reason
    assert look.to_dict()["verdict"] == "error"


async def test_the_healthy_answer_passes() -> None:
    """The reference the faults are compared with: the same answers, no fault."""
    async with ThanosFake(default=answer(same_for_both)) as fake:
        history, look = await run(fake)
    assert all(isinstance(v, Verdict) for v in history)
    assert look.decision is Decision.PASS
    assert len({(r.params["query"], r.params["start"]) for r in fake.requests}) == QUERIES


async def test_server_down_is_a_failed_look() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with PrometheusSource(url, timeout=2.0, backoff=0.0, retries=1) as source:
        look = await analysis().look(source, START + LOOKS * 60)
        history = await analysis().replay(source, START + LOOKS * 60)
    assert_failed_look(look, url, "cannot connect")
    assert [v.decision for v in history] == [Decision.ERROR]


async def test_slow_past_the_timeout_is_a_failed_look() -> None:
    async with ThanosFake(default=Reply(body=b"{}", delay=0.8)) as fake:
        fake.default = lambda r: Reply(body=answer(same_for_both)(r).body, delay=0.8)
        _, look = await run(fake, timeout=0.2)
    assert_failed_look(look, fake.url, "within 0.2s")


@pytest.mark.parametrize(
    ("reply", "what"),
    [
        (bad_data_400(), "HTTP 400 bad_data"),
        (execution_422(), "HTTP 422 execution: query processing would load too many samples"),
    ],
)
async def test_rejected_queries_fail_the_look_without_retrying(reply: Reply, what: str) -> None:
    async with ThanosFake(default=reply) as fake:
        history, look = await run(fake)
    assert_failed_look(look, fake.url, what)
    assert [v.decision for v in history] == [Decision.ERROR]
    assert len(fake.requests) <= 2 * QUERIES  # one try per query and call, no retries


async def test_one_503_is_retried_and_the_look_is_judged_as_without_it() -> None:
    async with ThanosFake(default=answer(same_for_both)) as clean:
        expected, _ = await run(clean)
    async with ThanosFake(default=answer(same_for_both)) as fake:
        fake.queue(unavailable_503())
        history, look = await run(fake)
    assert [v.to_dict() for v in history] == [v.to_dict() for v in expected]
    assert look.decision is Decision.PASS
    assert fake.requests[0].params["query"] in {r.params["query"] for r in fake.requests[1:]}


async def test_503_forever_is_a_failed_look() -> None:
    async with ThanosFake(default=unavailable_503()) as fake:
        history, look = await run(fake, retries=2)
    assert_failed_look(look, fake.url, "HTTP 503 unavailable: no store matched this query")
    assert [v.decision for v in history] == [Decision.ERROR]


async def test_thanos_warning_is_a_failed_look() -> None:
    async with ThanosFake(default=warning_reply("receive: store east-1 unreachable")) as fake:
        history, look = await run(fake)
    assert_failed_look(look, fake.url, "warnings", "store east-1 unreachable")
    assert fake.requests[0].params["partial_response"] == "false"
    assert [v.decision for v in history] == [Decision.ERROR]


async def test_a_warning_on_one_query_fails_the_look_even_if_the_rest_is_fine() -> None:
    async with ThanosFake(default=answer(same_for_both)) as fake:
        fake.queue(warning_reply())
        history, _ = await run(fake)
    assert [v.decision for v in history] == [Decision.ERROR]
    assert_failed_look(history[0], fake.url, "No StoreAPIs matched for this query")


async def test_garbage_body_is_a_failed_look() -> None:
    async with ThanosFake(default=garbage_200()) as fake:
        _, look = await run(fake)
    assert_failed_look(look, fake.url, "Please sign in")


async def test_plain_text_504_is_a_failed_look() -> None:
    async with ThanosFake(default=frontend_timeout_504()) as fake:
        _, look = await run(fake)
    assert_failed_look(look, fake.url, "HTTP 504", "context deadline exceeded")


def assert_no_data_then_fail(history: list[Verdict | FailedLook], limit: int) -> None:
    decisions = [v.decision for v in history]
    assert len(decisions) == LOOKS
    assert Decision.PASS not in decisions
    assert decisions[:limit] == [Decision.NO_DATA] * limit, decisions
    assert set(decisions[limit:]) == {Decision.FAIL}, decisions
    assert "no data" in history[limit].reason


async def test_empty_result_is_no_data_then_fail_never_pass() -> None:
    async with ThanosFake() as fake:  # every answer: success, empty result
        history, look = await run(fake, limit=3)
    assert_no_data_then_fail(history, 3)
    assert look.decision is Decision.FAIL
    assert "no data for longer than allowed" in look.reason


async def test_empty_result_never_passes_at_max_duration_even_within_the_limit() -> None:
    """A no-data limit longer than maxDuration must not turn silence into a PASS."""
    async with ThanosFake() as fake:
        history, _ = await run(fake, limit=100)
    decisions = [v.decision for v in history]
    assert len(decisions) == LOOKS  # 12 looks, past maxDuration (10m)
    assert Decision.PASS not in decisions
    assert set(decisions) <= {Decision.NO_DATA, Decision.FAIL}, decisions


async def test_nan_values_are_no_data_then_fail() -> None:
    async with ThanosFake(default=answer(lambda _q, _t: math.nan)) as fake:
        history, _ = await run(fake, limit=3)
    assert_no_data_then_fail(history, 3)
    assert "NaN" in history[0].reason, history[0].reason


async def test_nan_in_the_canary_only_is_never_a_pass() -> None:
    def canary_nan(query: str, t: float) -> float:
        return math.nan if 'version="v2"' in query else same_for_both(query, t)

    async with ThanosFake(default=answer(canary_nan)) as fake:
        history, _ = await run(fake, limit=3)
    assert_no_data_then_fail(history, 3)


async def test_infinite_values_are_never_a_pass() -> None:
    def canary_inf(query: str, t: float) -> float:
        return (
            math.inf
            if "cpu_per_request" in query and 'version="v2"' in query
            else same_for_both(query, t)
        )

    async with ThanosFake(default=answer(canary_inf)) as fake:
        history, _ = await run(fake, limit=3)
    assert Decision.PASS not in {v.decision for v in history}
    assert all(isinstance(v, Verdict) for v in history)


async def test_empty_result_through_the_istio_template_is_no_data_not_an_exception() -> None:
    """The library's Istio template (a histogram choosing boundaries from the baseline)."""
    job = analysis_from(
        library.load("istio"),
        start=START,
        canary={"version": "v2", "workload": "reviews-v2", "namespace": "shop", "cluster": "east"},
        baseline={
            "version": "v1",
            "workload": "reviews-v1",
            "namespace": "shop",
            "cluster": "east",
        },
    )
    async with ThanosFake() as fake, PrometheusSource(fake.url, backoff=0.0) as source:
        history = await job.replay(source, START + 10 * 60)
    decisions = [v.decision for v in history]
    assert decisions and Decision.PASS not in decisions
    assert set(decisions) <= {Decision.NO_DATA, Decision.FAIL, Decision.ERROR}, decisions


async def test_a_failed_look_leaves_no_query_running() -> None:
    """The first failing query ends the look; its siblings must not retry on afterwards."""
    async with ThanosFake(default=unavailable_503()) as fake:
        fake.queue(bad_data_400())  # the first request fails for good at once
        source = PrometheusSource(
            fake.url, backoff=0.3, max_backoff=0.3, retries=3, jitter=lambda: 1.0
        )
        try:
            async with source:
                look = await analysis().look(source, START + LOOKS * 60)
            assert isinstance(look, FailedLook)
            seen = len(fake.requests)
            await asyncio.sleep(0.8)
            late = [r.params["query"] for r in fake.requests[seen:]]
            assert not late, f"{len(late)} requests after the look had returned: {late}"
        finally:  # do not leak this test's stray tasks into the next tests
            stray = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in stray:
                task.cancel()
            await asyncio.gather(*stray, return_exceptions=True)
            await source.close()


def test_reasons_never_show_credentials() -> None:
    """The server named in a failed look is the URL without user and password."""

    async def go() -> FailedLook | Verdict:
        async with ThanosFake(default=bad_data_400()) as fake:
            url = fake.url.replace("http://", "http://alice:s3cret@")
            async with PrometheusSource(url, backoff=0.0) as source:
                return await analysis().look(source, START + 120)

    look = asyncio.run(go())
    assert isinstance(look, FailedLook)
    assert "s3cret" not in look.reason and "alice" not in look.reason
    assert re.search(r"http://127\.0\.0\.1:\d+", look.reason)
