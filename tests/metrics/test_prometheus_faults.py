"""The Prometheus/Thanos client against recorded Thanos answer shapes, fault by fault.

Each fault has one defined outcome: series, NoDataError ("no data"), or a SourceError
subclass naming the query, the server and what came back. None may pass silently.
The TLS tests serve HTTPS with a self-signed certificate made for the test, which only
a source given it as its CA (or told to skip verification) may trust.
"""

from __future__ import annotations

import asyncio
import math
import socket

import numpy as np
import pytest
from support.cli import run_main
from support.thanos_fake import (
    Reply,
    SelfSigned,
    ThanosFake,
    bad_data_400,
    execution_422,
    frontend_timeout_504,
    garbage_200,
    matrix_from_request,
    matrix_reply,
    self_signed_certificate,
    unavailable_503,
    vector_reply,
    warning_reply,
)

from auspice.analysis import FailedLook, analysis_from
from auspice.errors import AuspiceError, ConfigError, SourceError
from auspice.metrics.promapi import (
    MalformedResponseError,
    QueryError,
    QueryRejectedError,
    QueryTimeoutError,
    ServerUnavailableError,
    ServerWarningError,
    parse_answer,
)
from auspice.metrics.prometheus import PrometheusSource, split_range, stitch
from auspice.metrics.source import MetricsSource, NoDataError, Series
from auspice.specs import library
from auspice.stats import Decision

QUERY = 'sum(rate(istio_requests_total{destination_version="v2"}[1m]))'
LABELS = {"cluster": "east", "destination_version": "v2"}


class RecordingClock:
    """A clock whose sleeps return at once and are remembered."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def now(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def ok_reply() -> Reply:
    return matrix_reply([(LABELS, [(1000.0, 1.5), (1060.0, 2.5)])])


@pytest.fixture
async def fake():
    async with ThanosFake() as server:
        yield server


def source_for(url: str, **options) -> tuple[PrometheusSource, RecordingClock]:
    clock = RecordingClock()
    options.setdefault("timeout", 5.0)
    return PrometheusSource(url, clock=clock, jitter=lambda: 1.0, **options), clock


async def test_success_returns_series_with_numpy_arrays(fake: ThanosFake) -> None:
    fake.queue(ok_reply())
    source, _ = source_for(fake.url)
    async with source:
        [series] = await source.query_range(QUERY, 1000, 1060, 60)
    assert series.labels == LABELS
    assert series.timestamps.dtype == np.float64
    np.testing.assert_array_equal(series.timestamps, [1000.0, 1060.0])
    np.testing.assert_array_equal(series.values, [1.5, 2.5])


async def test_thanos_parameters_are_sent_as_thanos_expects(fake: ThanosFake) -> None:
    fake.queue(ok_reply(), ok_reply())
    source, _ = source_for(fake.url, replica_labels=("replica", "prometheus_replica"))
    async with source:
        await source.query_range(QUERY, 1000, 1060, 60)
        await source.query(QUERY, 1060)
    first, second = fake.requests
    assert first.path == "/api/v1/query_range"
    assert first.params["query"] == QUERY
    assert (first.params["start"], first.params["end"], first.params["step"]) == (
        "1000", "1060", "60",
    )  # fmt: skip
    assert first.params["partial_response"] == "false"
    assert first.params["dedup"] == "true"
    assert first.params.getall("replicaLabels[]") == ["replica", "prometheus_replica"]
    assert first.params["timeout"] == "5"
    assert second.path == "/api/v1/query"
    assert second.params["time"] == "1060"


async def test_thanos_parameters_can_be_changed_or_left_out(fake: ThanosFake) -> None:
    fake.queue(ok_reply(), ok_reply())
    source, _ = source_for(fake.url, partial_response=True, dedup=False)
    plain, _ = source_for(fake.url, thanos_parameters=False)
    async with source, plain:
        await source.query_range(QUERY, 1000, 1060, 60)
        await plain.query_range(QUERY, 1000, 1060, 60)
    assert fake.requests[0].params["partial_response"] == "true"
    assert fake.requests[0].params["dedup"] == "false"
    assert "dedup" not in fake.requests[1].params
    assert "partial_response" not in fake.requests[1].params


async def test_post_sends_a_form(fake: ThanosFake) -> None:
    fake.queue(ok_reply())
    source, _ = source_for(fake.url + "/", method="POST")
    async with source:
        await source.query_range(QUERY, 1000, 1060, 60)
    [request] = fake.requests
    assert request.method == "POST"
    assert request.path == "/api/v1/query_range"
    assert request.params["query"] == QUERY


async def test_path_prefix_is_kept(fake: ThanosFake) -> None:
    fake.queue(ok_reply())
    source, _ = source_for(fake.url + "/thanos/")
    async with source:
        await source.query_range(QUERY, 1000, 1060, 60)
    assert fake.requests[0].path == "/thanos/api/v1/query_range"


async def test_prometheus_down_is_a_source_error_naming_the_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source, clock = source_for(f"http://127.0.0.1:{port}", retries=2)
    async with source:
        with pytest.raises(ServerUnavailableError) as caught:
            await source.query_range(QUERY, 1000, 1060, 60)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert QUERY in message
    assert "cannot connect" in message
    assert len(clock.sleeps) == 2  # retried, then gave up


async def test_slow_past_the_timeout_fails_the_look_without_retrying(fake: ThanosFake) -> None:
    fake.queue(Reply(body=ok_reply().body, delay=1.0))
    source, clock = source_for(fake.url, timeout=0.2)
    async with source:
        with pytest.raises(QueryTimeoutError, match=r"within 0\.2s") as caught:
            await source.query_range(QUERY, 1000, 1060, 60)
    assert isinstance(caught.value, SourceError)
    assert clock.sleeps == []
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("reply", "status", "error_type", "text"),
    [
        (bad_data_400(), 400, "bad_data", "parse error"),
        (execution_422(), 422, "execution", "too many samples"),
    ],
)
async def test_400_and_422_are_rejected_and_never_retried(
    fake: ThanosFake, reply: Reply, status: int, error_type: str, text: str
) -> None:
    fake.queue(reply, ok_reply())
    source, clock = source_for(fake.url)
    async with source:
        with pytest.raises(QueryRejectedError) as caught:
            await source.query_range(QUERY, 1000, 1060, 60)
    error = caught.value
    assert (error.status, error.error_type) == (status, error_type)
    assert f"HTTP {status} {error_type}" in str(error)
    assert text in str(error)
    assert fake.url in str(error)
    assert len(fake.requests) == 1
    assert clock.sleeps == []


async def test_503_then_success_is_retried_with_backoff(fake: ThanosFake) -> None:
    fake.queue(unavailable_503(), unavailable_503(), ok_reply())
    source, clock = source_for(fake.url, backoff=0.5)
    async with source:
        [series] = await source.query_range(QUERY, 1000, 1060, 60)
    assert series.values.tolist() == [1.5, 2.5]
    assert len(fake.requests) == 3
    assert clock.sleeps == [0.5, 1.0]


async def test_503_forever_gives_up_after_the_retries(fake: ThanosFake) -> None:
    fake.default = unavailable_503()
    source, clock = source_for(fake.url, retries=3, backoff=1.0, max_backoff=3.0)
    async with source:
        with pytest.raises(ServerUnavailableError) as caught:
            await source.query_range(QUERY, 1000, 1060, 60)
    assert caught.value.status == 503
    assert "HTTP 503 unavailable: no store matched" in str(caught.value)
    assert len(fake.requests) == 4
    assert clock.sleeps == [1.0, 2.0, 3.0]


async def test_retry_after_is_honoured(fake: ThanosFake) -> None:
    fake.queue(Reply(429, "slow down", content_type="text/plain", headers={"Retry-After": "7"}))
    fake.queue(ok_reply())
    source, clock = source_for(fake.url, backoff=0.1, max_backoff=10)
    async with source:
        await source.query_range(QUERY, 1000, 1060, 60)
    assert clock.sleeps == [7.0]


async def test_query_frontend_plain_text_504_is_quoted(fake: ThanosFake) -> None:
    fake.default = frontend_timeout_504()
    source, _ = source_for(fake.url, retries=1)
    async with source:
        with pytest.raises(ServerUnavailableError) as caught:
            await source.query_range(QUERY, 1000, 1060, 60)
    assert "HTTP 504, body: context deadline exceeded" in str(caught.value)
    assert len(fake.requests) == 2


async def test_warnings_fail_the_look(fake: ThanosFake) -> None:
    fake.queue(warning_reply("partial response: store 10.0.0.7:10901 unreachable"))
    source, _ = source_for(fake.url)
    async with source:
        with pytest.raises(ServerWarningError) as caught:
            await source.query_range(QUERY, 1000, 1060, 60)
    error = caught.value
    assert error.warnings == ("partial response: store 10.0.0.7:10901 unreachable",)
    assert "10.0.0.7:10901 unreachable" in str(error)
    assert QUERY in str(error) and fake.url in str(error)
    assert len(fake.requests) == 1


async def test_nan_and_infinities_are_parsed(fake: ThanosFake) -> None:
    points = [(1000.0, math.nan), (1015.0, math.inf), (1030.0, -math.inf), (1045.0, 0.25)]
    fake.queue(matrix_reply([(LABELS, points)]))
    source, _ = source_for(fake.url)
    async with source:
        [series] = await source.query_range(QUERY, 1000, 1045, 15)
    assert math.isnan(series.values[0])
    assert series.values[1:].tolist() == [math.inf, -math.inf, 0.25]
    assert fake.requests[0].params["step"] == "15"


async def test_empty_result_is_no_data_not_zero(fake: ThanosFake) -> None:
    source, _ = source_for(fake.url)  # the fake's default answer is an empty matrix
    async with source:
        with pytest.raises(NoDataError) as caught:
            await source.query_range(QUERY, 1000, 1060, 60)
    assert not isinstance(caught.value, SourceError)
    assert isinstance(caught.value, AuspiceError)
    assert "returned no series" in str(caught.value)
    assert QUERY in str(caught.value)


async def test_garbage_is_a_malformed_response(fake: ThanosFake) -> None:
    fake.queue(garbage_200())
    source, _ = source_for(fake.url)
    async with source:
        with pytest.raises(MalformedResponseError, match="Please sign in"):
            await source.query_range(QUERY, 1000, 1060, 60)


@pytest.mark.parametrize(
    "body",
    [
        {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}}]}},
        {"status": "success", "data": {"resultType": "string", "result": [1, "x"]}},
        {"status": "success", "data": {"resultType": "matrix",
                                       "result": [{"metric": {}, "values": [[1, "abc"]]}]}},
        {"status": "success", "data": {"resultType": "matrix",
                                       "result": [{"metric": {}, "values": [[1, 2]]}]}},
        {"status": "success", "data": {"resultType": "matrix",
                                       "result": [{"metric": {}, "histograms": [[1, {}]]}]}},
        {"status": "success"},
        {"data": {}},
    ],
)  # fmt: skip
async def test_malformed_json_answers_are_errors(fake: ThanosFake, body: dict) -> None:
    fake.queue(Reply(body=body))
    source, _ = source_for(fake.url)
    async with source:
        with pytest.raises(MalformedResponseError):
            await source.query_range(QUERY, 1000, 1060, 60)


async def test_other_statuses_name_what_came_back(fake: ThanosFake) -> None:
    fake.queue(Reply(401, "Unauthorized\n", content_type="text/plain"))
    source, clock = source_for(fake.url)
    async with source:
        with pytest.raises(QueryError, match="HTTP 401, body: Unauthorized") as caught:
            await source.query_range(QUERY, 1000, 1060, 60)
    assert type(caught.value) is QueryError
    assert clock.sleeps == []


async def test_credentials_are_sent_and_never_shown(fake: ThanosFake) -> None:
    fake.default = bad_data_400()
    url = fake.url.replace("http://", "http://alice:s3cret@")
    source, _ = source_for(url, headers={"X-Scope-OrgID": "team-a"})
    async with source:
        with pytest.raises(QueryRejectedError) as caught:
            await source.query_range(QUERY, 1000, 1060, 60)
    headers = fake.requests[0].headers
    assert headers["Authorization"].startswith("Basic ")
    assert headers["X-Scope-OrgID"] == "team-a"
    assert "s3cret" not in str(caught.value) and "alice" not in str(caught.value)
    assert "s3cret" not in repr(source) and source.server == fake.url


async def test_bearer_token_file_is_read_for_each_request(fake: ThanosFake, tmp_path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    fake.queue(ok_reply(), ok_reply())
    source, _ = source_for(fake.url, bearer_token_file=token_file)
    async with source:
        await source.query_range(QUERY, 1000, 1060, 60)
        token_file.write_text("rotated")
        await source.query_range(QUERY, 1000, 1060, 60)
    assert [r.headers["Authorization"] for r in fake.requests] == [
        "Bearer first",
        "Bearer rotated",
    ]


async def test_bearer_token(fake: ThanosFake) -> None:
    fake.queue(ok_reply())
    source, _ = source_for(fake.url, bearer_token="abc")
    async with source:
        await source.query_range(QUERY, 1000, 1060, 60)
    assert fake.requests[0].headers["Authorization"] == "Bearer abc"


def test_bad_configuration_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not an http"):
        PrometheusSource("thanos:9090")
    with pytest.raises(ConfigError, match="not both"):
        PrometheusSource("http://x", bearer_token="a", bearer_token_file="b")
    with pytest.raises(ConfigError, match="TLS files"):
        PrometheusSource("https://x", ca_file=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="query string"):
        PrometheusSource("https://x/?token=secret")


async def test_long_ranges_are_split_and_stitched(fake: ThanosFake) -> None:
    labels = [{"cluster": "east"}, {"cluster": "west"}]
    fake.default = matrix_from_request(
        labels, lambda series, t: t * (2 if series["cluster"] == "west" else 1)
    )
    source, _ = source_for(fake.url)
    start, step = 1_000_000.0, 15.0
    end = start + 25_000 * step  # 25,001 points: three requests
    async with source:
        series = await source.query_range(QUERY, start, end, step)
    assert len(fake.requests) == 3
    assert sorted(s.labels["cluster"] for s in series) == ["east", "west"]
    for item in series:
        expected = np.arange(25_001) * step + start
        np.testing.assert_array_equal(item.timestamps, expected)
        factor = 2 if item.labels["cluster"] == "west" else 1
        np.testing.assert_array_equal(item.values, expected * factor)


def test_split_range_keeps_the_grid_and_the_limit() -> None:
    parts = split_range(0.0, 30.0, 1.0, max_points=10)
    assert parts == [(0.0, 9.0), (10.0, 19.0), (20.0, 29.0), (30.0, 30.0)]
    assert split_range(0.0, 5.0, 10.0) == [(0.0, 0.0)]


def test_stitch_keeps_series_missing_from_some_parts() -> None:
    def series(cluster: str, times: list[float]) -> Series:
        return Series({"cluster": cluster}, np.array(times), np.array(times) * 10)

    joined = stitch([[series("a", [1, 2]), series("b", [2])], [series("a", [2, 3])]])
    by_cluster = {s.labels["cluster"]: s for s in joined}
    assert by_cluster["a"].timestamps.tolist() == [1, 2, 3]
    assert by_cluster["a"].values.tolist() == [10, 20, 30]
    assert by_cluster["b"].timestamps.tolist() == [2]


async def test_instant_query_and_scalar_results(fake: ThanosFake) -> None:
    fake.queue(vector_reply([(LABELS, 0.5), ({"cluster": "west"}, math.nan)], at=1060))
    scalar_data = {"resultType": "scalar", "result": [1060, "+Inf"]}
    fake.queue(Reply(body={"status": "success", "data": scalar_data}))
    source, _ = source_for(fake.url)
    async with source:
        vector = await source.query(QUERY, 1060)
        [scalar] = await source.query("vector(1) + Inf", 1060)
    assert [s.labels for s in vector] == [LABELS, {"cluster": "west"}]
    assert vector[0].values.tolist() == [0.5] and math.isnan(vector[1].values[0])
    assert scalar.labels == {} and scalar.values.tolist() == [math.inf]


def test_parse_answer_classifies_without_a_server() -> None:
    body = b'{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}'  # noqa: E501
    with pytest.raises(ServerUnavailableError, match="HTTP 503 timeout: query timed out"):
        parse_answer(503, body, query="up", server="http://x")


def test_the_source_fits_the_metrics_source_protocol() -> None:
    source: MetricsSource = PrometheusSource("http://127.0.0.1:9")
    assert callable(source.query_range)


async def test_invalid_ranges_are_refused_before_any_request(fake: ThanosFake) -> None:
    source, _ = source_for(fake.url)
    async with source:
        with pytest.raises(ValueError, match="step"):
            await source.query_range(QUERY, 0, 10, 0)
        with pytest.raises(ValueError, match="before its start"):
            await source.query_range(QUERY, 10, 0, 1)
    assert fake.requests == []


async def test_times_may_be_aware_datetimes_but_not_naive_ones(fake: ThanosFake) -> None:
    from datetime import UTC, datetime

    fake.queue(ok_reply())
    source, _ = source_for(fake.url)
    async with source:
        await source.query_range(
            QUERY, datetime.fromtimestamp(1000.25, UTC), datetime.fromtimestamp(1060.25, UTC), 60
        )
        with pytest.raises(ValueError, match="no time zone"):
            await source.query(QUERY, datetime(2026, 1, 1))
    assert fake.requests[0].params["start"] == "1000.25"
    assert fake.requests[0].params["end"] == "1060.25"


async def test_dropped_connection_is_retried(fake: ThanosFake) -> None:
    # aiohttp itself may retry an idempotent request once; the source retries on top.
    fake.queue(*[Reply(disconnect=True)] * 3, ok_reply())
    source, clock = source_for(fake.url)
    async with source:
        [series] = await source.query_range(QUERY, 1000, 1060, 60)
    assert series.values.tolist() == [1.5, 2.5]
    assert len(fake.requests) == 4
    assert clock.sleeps


async def test_redirects_are_not_followed(fake: ThanosFake) -> None:
    fake.queue(Reply(302, "", content_type="text/plain", headers={"Location": "/login"}))
    source, _ = source_for(fake.url, bearer_token="secret-token")
    async with source:
        with pytest.raises(QueryError, match="HTTP 302") as caught:
            await source.query_range(QUERY, 1000, 1060, 60)
    assert len(fake.requests) == 1
    assert "secret-token" not in str(caught.value)


@pytest.fixture
def certificate(tmp_path) -> SelfSigned:
    return self_signed_certificate(tmp_path)


async def test_https_with_the_configured_ca_file_is_trusted(certificate: SelfSigned) -> None:
    async with ThanosFake(tls=certificate) as fake:
        assert fake.url.startswith("https://127.0.0.1:")
        fake.queue(ok_reply())
        source, _ = source_for(fake.url, ca_file=certificate.cert)
        async with source:
            [series] = await source.query_range(QUERY, 1000, 1060, 60)
    assert series.values.tolist() == [1.5, 2.5]
    assert [request.path for request in fake.requests] == ["/api/v1/query_range"]


@pytest.mark.parametrize("trust", ["system CAs", "another CA"])
async def test_https_without_its_ca_fails_verification_naming_the_server(
    certificate: SelfSigned, tmp_path, trust: str
) -> None:
    other = self_signed_certificate(tmp_path, name="another-ca")
    options = {"ca_file": other.cert} if trust == "another CA" else {}
    async with ThanosFake(tls=certificate) as fake:
        fake.default = ok_reply()
        source, clock = source_for(fake.url, retries=3, **options)
        async with source:
            with pytest.raises(ServerUnavailableError) as caught:
                await source.query_range(QUERY, 1000, 1060, 60)
    assert clock.sleeps == []  # a certificate does not change on retry: one attempt
    assert "caFile" in str(caught.value)
    assert caught.value.server == fake.url
    assert fake.url in str(caught.value)
    assert "certificate verify failed" in str(caught.value)
    assert QUERY in str(caught.value)
    assert fake.requests == []  # nothing got past the handshake


async def test_an_untrusted_certificate_is_a_failed_look(certificate: SelfSigned) -> None:
    scope = {"workload": "reviews-v2", "namespace": "shop", "cluster": "east"}
    analysis = analysis_from(
        library.load("istio"),
        canary={**scope, "version": "v2"},
        baseline={**scope, "workload": "reviews-v1", "version": "v1"},
        start=10_000,
    )
    async with ThanosFake(tls=certificate) as fake:
        fake.default = ok_reply()
        source, _ = source_for(fake.url)
        async with source:
            verdict = await analysis.look(source, 10_000 + 600)
    assert isinstance(verdict, FailedLook)
    assert verdict.decision is Decision.ERROR
    assert fake.url in verdict.reason
    assert "certificate verify failed" in verdict.reason


async def test_insecure_skip_verify_accepts_an_untrusted_certificate(
    certificate: SelfSigned,
) -> None:
    async with ThanosFake(tls=certificate) as fake:
        fake.queue(ok_reply())
        source, _ = source_for(fake.url, insecure_skip_verify=True)
        async with source:
            [series] = await source.query_range(QUERY, 1000, 1060, 60)
    assert series.values.tolist() == [1.5, 2.5]
    assert len(fake.requests) == 1


async def test_backtest_source_options_reach_the_source(
    certificate: SelfSigned, capsys: pytest.CaptureFixture[str]
) -> None:
    """``auspice backtest`` with --ca-file, replica labels and partial response: each one
    reaches the request; without --ca-file the same command is a failed look (exit 1)."""
    scope = "workload=reviews-v2,namespace=shop,cluster=east"
    async with ThanosFake(tls=certificate) as fake:
        args = ["backtest", "--json", "--template", "istio", "--prometheus", fake.url,
                "--canary", f"version=v2,{scope}", "--baseline", f"version=v1,{scope}",
                "--start", "10000", "--end", "10600", "--timeout", "5"]  # fmt: skip
        options = ["--ca-file", str(certificate.cert), "--partial-response", "--no-dedup",
                   "--replica-label", "replica", "--replica-label", "rule_replica"]  # fmt: skip
        # The CLI runs its own event loop: in a thread, while this loop serves.
        trusted = await asyncio.to_thread(run_main, [*args, *options], capsys)
        assert fake.requests, (trusted.out, trusted.err)
        for request in fake.requests:
            assert request.params.getall("replicaLabels[]") == ["replica", "rule_replica"]
            assert request.params["partial_response"] == "true"
            assert request.params["dedup"] == "false"
            assert request.params["timeout"] == "5"
        looks = trusted.json()["looks"]
        assert looks and all("certificate" not in look["reason"] for look in looks)

        seen = len(fake.requests)
        untrusted = await asyncio.to_thread(run_main, args, capsys)
    assert untrusted.status == 1
    assert len(fake.requests) == seen
    [look] = untrusted.json()["looks"]
    assert look["verdict"] == "error"
    assert fake.url in look["reason"] and "certificate verify failed" in look["reason"]
