"""The Kayenta routes: configs, executions, errors, roles, persistence (canned series)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.kayenta import (
    JUDGE,
    OPERATOR,
    VIEWER,
    RecordingSource,
    constant_series,
    execution_request,
    reviews_config,
    scope,
    write_configs,
)

from auspice.errors import SourceError
from auspice.metrics.source import Series
from auspice.webhooks.kayenta.api import KAYENTA

START_S = 1_767_229_200.0
END_S = START_S + 3600.0


def noisy(
    values_mean: float,
    seed: int,
    *,
    start: float = START_S,
    end: float = END_S,
    labels: dict[str, str] | None = None,
) -> Series:
    timestamps = np.arange(start, end + 30, 60, dtype=np.float64)
    values = np.random.default_rng(seed).normal(values_mean, values_mean * 0.02, timestamps.size)
    return Series(labels or {}, timestamps, values)


def by_version(levels: dict[str, float]):
    """Answer each query with a noisy series whose mean depends on the version in it."""

    def answer(promql: str, start: float, end: float, step: float) -> list[Series]:
        for seed, (version, level) in enumerate(sorted(levels.items())):
            if f'destination_version="{version}"' in promql:
                return [noisy(level, seed + 7 * len(promql), start=start, end=end)]
        return []

    return answer


@pytest.fixture
async def app(start_app, tmp_path: Path):
    directory = write_configs(
        tmp_path / "configs",
        reviews_config(),
        reviews_config("ratings-golden", config_id="ratings-id", applications=("ratings",)),
        reviews_config("shared-golden", config_id=None, applications=("ratings", "reviews")),
    )
    source = RecordingSource(answer=by_version({"v1": 40.0, "v2": 40.0}))
    return await start_app(source=source, kayenta={"configDirectory": str(directory)})


async def run(harness, path: str, body: Any, *, headers: dict | None = None) -> dict:
    started = await harness.json("POST", path, json=body, headers=headers or JUDGE)
    execution_id = started["canaryExecutionId"]
    for _ in range(400):
        status = await harness.json("GET", f"/canary/{execution_id}", headers=VIEWER)
        if status["complete"]:
            return status
        await asyncio.sleep(0.01)
    raise AssertionError("execution never completed")


# ------------------------------------------------------------------------- configs


async def test_configs_are_listed_by_application(app) -> None:
    everything = await app.json("GET", "/canaryConfig", headers=VIEWER)
    assert {c["name"] for c in everything} == {"reviews-golden", "ratings-golden", "shared-golden"}
    reviews = await app.json("GET", "/canaryConfig?application=reviews", headers=VIEWER)
    assert {c["name"]: c["id"] for c in reviews} == {
        "reviews-golden": "reviews-golden-id",
        "shared-golden": "shared-golden",
    }
    assert reviews[0].keys() >= {"id", "name", "applications"}
    both = await app.json(
        "GET", "/canaryConfig?application=reviews&application=ratings", headers=VIEWER
    )
    comma = await app.json("GET", "/canaryConfig?application=reviews,ratings", headers=VIEWER)
    assert len(both) == len(comma) == 3
    none = await app.json("GET", "/canaryConfig?application=nothing", headers=VIEWER)
    assert none == []


async def test_one_config_is_returned_as_stored(app) -> None:
    config = await app.json("GET", "/canaryConfig/reviews-golden-id", headers=VIEWER)
    assert config["name"] == "reviews-golden"
    assert config["metrics"][0]["query"]["serviceType"] == "prometheus"
    assert config["classifier"]["groupWeights"] == {"errors": 50.0, "latency": 50.0}


async def test_unknown_config_is_404_in_kayentas_shape(app) -> None:
    for method, path, body in [
        ("GET", "/canaryConfig/nope", None),
        ("POST", "/canary/nope", execution_request()),
    ]:
        error = await app.json(method, path, json=body, headers=JUDGE, status=404)
        assert error["status"] == 404
        assert error["error"] == "Not Found"
        assert "nope" in error["message"]
    assert app.source.calls == []


async def test_operator_stores_a_config_and_it_is_listed(app) -> None:
    config = reviews_config("posted-golden", config_id=None, applications=("posted",))
    await app.json("POST", "/canaryConfig", json=config, headers=JUDGE, status=403)
    created = await app.json("POST", "/canaryConfig", json=config, headers=OPERATOR)
    listed = await app.json("GET", "/canaryConfig?application=posted", headers=VIEWER)
    assert [c["id"] for c in listed] == [created["canaryConfigId"]]
    assert listed[0]["updatedTimestampIso"].endswith("Z")
    again = {**config, "id": created["canaryConfigId"]}
    error = await app.json("POST", "/canaryConfig", json=again, headers=OPERATOR, status=400)
    assert "already exists" in error["message"]
    audit = await app.context.store.audit.entries()
    assert [(e.who, e.what) for e in audit] == [("operator", "kayenta.config.create")]


# ----------------------------------------------------------------------- executions


async def test_execution_answers_kayentas_status_shape(app) -> None:
    status = await run(
        app,
        "/canary/reviews-golden-id?application=reviews&metricsAccountName=m&storageAccountName=s",
        execution_request(),
    )

    assert status["complete"] is True
    assert status["status"] == "succeeded"
    assert status["executionStatus"] == "SUCCEEDED"
    assert status["application"] == "reviews"
    assert status["canaryConfigId"] == "reviews-golden-id"
    assert status["metricsAccountName"] == "m"
    assert status["storageAccountName"] == "s"
    assert status["config"]["name"] == "reviews-golden"
    assert status["canaryExecutionRequest"]["scopes"]["default"]["controlScope"]["scope"] == "v1"
    assert status["endTimeMillis"] >= status["startTimeMillis"] >= status["buildTimeMillis"]
    judge_result = status["result"]["judgeResult"]
    assert judge_result["judgeName"] == "NetflixACAJudge-v1.0"
    assert judge_result["score"] == {
        "score": 100.0,
        "classification": "Pass",
        "classificationReason": "",
    }
    assert status["result"]["canaryDuration"] == "PT60M"
    result = judge_result["results"][0]
    assert result.keys() >= {
        "name",
        "id",
        "tags",
        "classification",
        "groups",
        "experimentMetadata",
        "controlMetadata",
        "resultMetadata",
        "critical",
    }
    assert result["experimentMetadata"]["stats"]["count"] == 61
    audit = await app.context.store.audit.entries()
    assert [(e.who, e.what) for e in audit] == [("judge", "kayenta.canary.start")]
    assert audit[0].details["execution"] == status["pipelineId"]


async def test_a_regression_is_high_and_fails(start_app, tmp_path: Path) -> None:
    directory = write_configs(tmp_path / "c", reviews_config())
    harness = await start_app(
        source=RecordingSource(answer=by_version({"v1": 40, "v2": 80})),
        kayenta={"configDirectory": str(directory)},
    )
    status = await run(harness, "/canary/reviews-golden-id", execution_request())
    judge_result = status["result"]["judgeResult"]
    assert {r["classification"] for r in judge_result["results"]} == {"High"}
    assert judge_result["score"]["score"] == 0.0
    assert judge_result["score"]["classification"] == "Fail"


async def test_inline_config_execution(app) -> None:
    config = reviews_config("inline-only", config_id=None)
    config["metrics"][1]["analysisConfigurations"]["canary"]["critical"] = True
    app.source.answer = by_version({"v1": 40, "v2": 120})

    status = await run(
        app, "/canary", {"canaryConfig": config, "executionRequest": execution_request()}
    )

    assert status["canaryConfigId"] == "ad-hoc"
    assert status["application"] == "ad-hoc"
    assert status["config"]["name"] == "inline-only"
    score = status["result"]["judgeResult"]["score"]
    assert score["score"] == 0.0
    assert score["classification"] == "Fail"
    assert "latency-p50" in score["classificationReason"]
    critical = [r for r in status["result"]["judgeResult"]["results"] if r["critical"]]
    assert [r["name"] for r in critical] == ["latency-p50"]


async def test_thresholds_from_the_config_when_the_request_has_none(app) -> None:
    config = reviews_config("with-thresholds", config_id=None)
    config["classifier"]["scoreThresholds"] = {"pass": 100, "marginal": 50}
    request = execution_request()
    del request["thresholds"]
    app.source.answer = by_version({"v1": 40, "v2": 40})
    status = await run(app, "/canary", {"canaryConfig": config, "executionRequest": request})
    assert status["result"]["judgeResult"]["score"]["classification"] == "Pass"

    config["classifier"].pop("scoreThresholds")
    error = await app.json(
        "POST",
        "/canary",
        json={"canaryConfig": config, "executionRequest": request},
        headers=JUDGE,
        status=400,
    )
    assert error["field"] == "executionRequest.thresholds"


async def test_series_are_paired_by_labels(app) -> None:
    def answer(promql: str, start: float, end: float, step: float) -> list[Series]:
        high = 80.0 if 'destination_version="v2"' in promql else 40.0
        return [
            noisy(40.0, 1, labels={"cluster": "east"}, start=start, end=end),
            noisy(high, 2, labels={"cluster": "west"}, start=start, end=end),
        ]

    app.source.answer = answer
    status = await run(app, "/canary/reviews-golden-id", execution_request())
    results = status["result"]["judgeResult"]["results"]
    found = {(r["name"], r["tags"]["cluster"]): r["classification"] for r in results}
    assert found == {
        ("error-ratio", "east"): "Pass",
        ("error-ratio", "west"): "High",
        ("latency-p50", "east"): "Pass",
        ("latency-p50", "west"): "High",
    }
    groups = {g["name"]: g["score"] for g in status["result"]["judgeResult"]["groupScores"]}
    assert groups == {"errors": 50.0, "latency": 50.0}


async def test_numbers_that_are_not_finite_are_null(app) -> None:
    """A zero control mean makes the ratio NaN, which Go's JSON decoder would refuse."""

    def answer(promql: str, start: float, end: float, step: float) -> list[Series]:
        level = 5.0 if 'destination_version="v2"' in promql else 0.0
        return [constant_series(level, start, end, step)]

    app.source.answer = answer
    started = await app.json(
        "POST", "/canary/reviews-golden-id", json=execution_request(), headers=JUDGE
    )
    for _ in range(400):
        response = await app.client.get(f"/canary/{started['canaryExecutionId']}", headers=VIEWER)
        text = await response.text()
        status = json.loads(text, parse_constant=_refuse_constant)
        if status["complete"]:
            break
        await asyncio.sleep(0.01)
    ratios = [r["resultMetadata"]["ratio"] for r in status["result"]["judgeResult"]["results"]]
    assert ratios == [None, None]
    assert {r["classification"] for r in status["result"]["judgeResult"]["results"]} == {"High"}


def _refuse_constant(name: str) -> float:
    raise AssertionError(f"the answer holds {name}, which is not JSON")


async def test_a_failing_source_makes_the_execution_terminal(app) -> None:
    def broken(promql: str, start: float, end: float, step: float) -> list[Series]:
        raise SourceError("query failed on http://prometheus:9090: 503 Service Unavailable")

    app.source.answer = broken
    status = await run(app, "/canary/reviews-golden-id", execution_request())

    assert status["complete"] is True
    assert status["status"] == "terminal"
    assert "result" not in status
    assert "503" in status["exception"]["details"]["error"]


async def test_no_token_is_401_and_viewer_cannot_start(app) -> None:
    no_token = await app.json("GET", "/canaryConfig", status=401)
    assert "bearer token" in no_token["message"]
    forbidden = await app.json(
        "POST", "/canary/reviews-golden-id", json=execution_request(), headers=VIEWER, status=403
    )
    assert "judge" in forbidden["message"]
    wrong = await app.json(
        "GET",
        "/canaryConfig",
        headers={"Authorization": "Bearer not-a-known-token-at-all"},
        status=401,
    )
    assert "not valid" in wrong["message"]
    assert app.source.calls == []


async def test_anonymous_kayenta_callers_get_only_the_configured_role(
    start_app, tmp_path: Path
) -> None:
    directory = write_configs(tmp_path / "c", reviews_config())
    harness = await start_app(
        kayenta={"configDirectory": str(directory), "allowAnonymous": "judge"}
    )
    await harness.json("GET", "/canaryConfig")
    config = reviews_config("x", config_id=None)
    await harness.json("POST", "/canaryConfig", json=config, status=401)
    # the other APIs still need their tokens
    response = await harness.client.get("/api/v1/templates")
    assert response.status == 401


async def test_unknown_execution_is_404(app) -> None:
    error = await app.json("GET", "/canary/does-not-exist", headers=VIEWER, status=404)
    assert "does-not-exist" in error["message"]


# ----------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"scopes": {}}, "scopes", "at least 1"),
        ({"thresholds": {"pass": 95, "marginal": 75}}, "scopes", "Field required"),
        (
            execution_request(control=scope(start="2026-01-01T01:00:00")),
            "scopes.default.controlScope.start",
            "no time zone",
        ),
        (
            execution_request(experiment=scope(end="yesterday")),
            "scopes.default.experimentScope.end",
            "ISO-8601",
        ),
        (
            execution_request(control=scope(end="2026-01-01T00:00:00Z")),
            "scopes.default.controlScope",
            "not after start",
        ),
        (
            execution_request(control=scope(step=0)),
            "scopes.default.controlScope.step",
            "greater than 0",
        ),
        (
            execution_request(control=scope(step=1, end="2026-01-02T01:00:00Z")),
            "scopes.default.controlScope.step",
            "limit of 11000",
        ),
        (
            execution_request(experiment=scope(regoin="eu")),
            "scopes.default.experimentScope.regoin",
            "Extra inputs",
        ),
        (execution_request(thresholds={"pass": 50, "marginal": 75}), "thresholds", "above pass"),
        (
            {"scopes": {"canary": {"controlScope": scope(), "experimentScope": scope()}}},
            "scopes",
            "need scopes ['default']",
        ),
        (
            execution_request(control=scope(location="")),
            "scopes.default.controlScope.location",
            "does not define",
        ),
    ],
)
async def test_bad_requests_name_the_field_and_query_nothing(app, body, field, words) -> None:
    error = await app.json(
        "POST", "/canary/reviews-golden-id", json=body, headers=JUDGE, status=400
    )
    assert error["field"] == field, error
    assert words in error["message"], error
    assert app.source.calls == []


async def test_malformed_json_is_400(app) -> None:
    nan = b'{"scopes": {}, "thresholds": {"pass": NaN, "marginal": 0}}'
    for payload in (b"{not json", b"[1, 2]", b'"text"', nan, b"\xff{}"):
        response = await app.client.post(
            "/canary/reviews-golden-id",
            data=payload,
            headers={**JUDGE, "Content-Type": "application/json"},
        )
        assert response.status == 400
        body = await response.json()
        assert "JSON" in body["message"]
    assert app.source.calls == []


async def test_bad_inline_config_names_the_config_field(app) -> None:
    config = reviews_config("bad", config_id=None)
    config["metrics"][0]["analysisConfigurations"]["canary"]["nanStrategy"] = "ignore"
    error = await app.json(
        "POST",
        "/canary",
        json={"canaryConfig": config, "executionRequest": execution_request()},
        headers=JUDGE,
        status=400,
    )
    assert error["field"] == "canaryConfig.metrics[0].analysisConfigurations.canary"
    assert "nan_strategy" in error["message"] or "nanStrategy" in error["message"]

    config = reviews_config("bad", config_id=None)
    config["metrics"][0]["query"]["type"] = "atlas"
    error = await app.json(
        "POST",
        "/canary",
        json={"canaryConfig": config, "executionRequest": execution_request()},
        headers=JUDGE,
        status=400,
    )
    assert error["field"] == "canaryConfig.metrics[0].query.type"
    assert app.source.calls == []


async def test_oversized_body_is_413(start_app) -> None:
    harness = await start_app()
    big = {"scopes": {"default": {"controlScope": scope("x" * 70_000), "experimentScope": scope()}}}
    response = await harness.client.post("/canary", json=big, headers=JUDGE)
    assert response.status == 413
    assert harness.source.calls == []


# ---------------------------------------------------------------------- persistence


async def test_a_restarted_service_still_answers_for_finished_executions(
    start_app, tmp_path: Path
) -> None:
    directory = write_configs(tmp_path / "c", reviews_config())
    state = tmp_path / "kept.db"
    settings = {"configDirectory": str(directory)}
    first = await start_app(
        source=RecordingSource(answer=by_version({"v1": 40, "v2": 40})),
        kayenta=settings,
        state=state,
    )
    status = await run(first, "/canary/reviews-golden-id", execution_request())
    await first.client.close()

    second = await start_app(kayenta=settings, state=state)
    again = await second.json("GET", f"/canary/{status['pipelineId']}", headers=VIEWER)
    assert again == status
    assert second.source.calls == []


async def test_an_execution_cut_by_a_restart_runs_again(start_app, tmp_path: Path) -> None:
    directory = write_configs(tmp_path / "c", reviews_config())
    state = tmp_path / "kept.db"
    settings = {"configDirectory": str(directory)}
    stuck = asyncio.Event()

    class Hanging(RecordingSource):
        async def query_range(self, promql, start, end, step):
            self.calls.append((promql, start, end, step))
            stuck.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    first = await start_app(
        source=Hanging(), kayenta=settings, state=state, shutdown_timeout="100ms"
    )
    started = await first.json(
        "POST", "/canary/reviews-golden-id", json=execution_request(), headers=JUDGE
    )
    await stuck.wait()
    await first.client.close()  # shutdown: waits 0.1 s, then cancels the execution

    second = await start_app(
        source=RecordingSource(answer=by_version({"v1": 40, "v2": 40})),
        kayenta=settings,
        state=state,
    )
    execution_id = started["canaryExecutionId"]
    status = await second.json("GET", f"/canary/{execution_id}", headers=VIEWER)
    for _ in range(400):
        if status["complete"]:
            break
        await asyncio.sleep(0.01)
        status = await second.json("GET", f"/canary/{execution_id}", headers=VIEWER)
    assert status["status"] == "succeeded"
    assert status["result"]["judgeResult"]["score"]["score"] == 100.0
    assert len(second.source.calls) == 4
    assert set(first.source.queries) <= set(second.source.queries)


# --------------------------------------------------------------------- operations


async def test_executions_beyond_the_memory_limit_are_served_from_the_store(
    start_app, tmp_path: Path
) -> None:
    directory = write_configs(tmp_path / "c", reviews_config())
    harness = await start_app(
        source=RecordingSource(answer=by_version({"v1": 40, "v2": 40})),
        kayenta={"configDirectory": str(directory), "executionsInMemory": 1},
    )
    first = await run(harness, "/canary/reviews-golden-id", execution_request())
    second = await run(harness, "/canary/reviews-golden-id", execution_request())
    service = harness.app[KAYENTA]
    assert list(service.executions) == [second["pipelineId"]]
    again = await harness.json("GET", f"/canary/{first['pipelineId']}", headers=VIEWER)
    assert again == first


async def test_an_execution_that_takes_too_long_is_terminal(start_app, tmp_path: Path) -> None:
    directory = write_configs(tmp_path / "c", reviews_config())

    class Slow(RecordingSource):
        async def query_range(self, promql, start, end, step):
            await asyncio.Event().wait()

    harness = await start_app(
        source=Slow(), kayenta={"configDirectory": str(directory), "executionTimeout": "100ms"}
    )
    status = await run(harness, "/canary/reviews-golden-id", execution_request())
    assert status["status"] == "terminal"
    assert "executionTimeout" in status["exception"]["details"]["error"]


async def test_bad_kayenta_settings_stop_the_service(start_app, tmp_path: Path) -> None:
    from auspice.errors import ConfigError

    with pytest.raises(ConfigError, match=r"kayenta\.allowAnonymous"):
        await start_app(kayenta={"allowAnonymous": "operator"})
    with pytest.raises(ConfigError, match="not a directory"):
        await start_app(kayenta={"configDirectory": str(tmp_path / "none")})


async def test_openapi_describes_the_kayenta_routes(app) -> None:
    document = await app.json("GET", "/api/v1/openapi.json")
    paths = document["paths"]
    assert {
        "/canaryConfig",
        "/canaryConfig/{configId}",
        "/canary",
        "/canary/{configId}",
        "/canary/{executionId}",
    } <= paths.keys()
    schemas = document["components"]["schemas"]
    request = schemas["KayentaExecutionRequest"]
    assert "scopes" in request["properties"]
    refs = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str) and "Kayenta" in node["$ref"]:
                refs.add(node["$ref"].rsplit("/", 1)[1])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs and refs <= schemas.keys()
    assert "controlScope" in schemas["KayentaScopePair"]["properties"]


async def test_too_many_running_executions_are_refused_with_429(start_app, tmp_path) -> None:
    directory = write_configs(tmp_path / "c", reviews_config())

    class Hanging(RecordingSource):
        async def query_range(self, promql, start, end, step):
            await asyncio.Event().wait()

    harness = await start_app(
        source=Hanging(),
        shutdown_timeout="100ms",
        kayenta={"configDirectory": str(directory), "maxRunning": 1},
    )
    await harness.json("POST", "/canary/reviews-golden-id", json=execution_request(), headers=JUDGE)
    response = await harness.client.post(
        "/canary/reviews-golden-id", json=execution_request(), headers=JUDGE
    )
    assert response.status == 429
    assert response.headers["Retry-After"] == "15"
    assert "kayenta.maxRunning" in (await response.json())["message"]


async def test_a_running_execution_says_so_until_it_completes(start_app, tmp_path) -> None:
    directory = write_configs(tmp_path / "c", reviews_config())
    gate = asyncio.Event()
    levels = by_version({"v1": 40, "v2": 40})

    class Gated(RecordingSource):
        async def query_range(self, promql, start, end, step):
            await gate.wait()
            return levels(promql, start, end, step)

    harness = await start_app(source=Gated(), kayenta={"configDirectory": str(directory)})
    started = await harness.json(
        "POST", "/canary/reviews-golden-id", json=execution_request(), headers=JUDGE
    )
    path = f"/canary/{started['canaryExecutionId']}"
    running = await harness.json("GET", path, headers=VIEWER)
    assert running["complete"] is False
    assert running["status"] == "running"
    assert running["executionStatus"] == "RUNNING"
    assert "result" not in running and "endTimeMillis" not in running
    gate.set()
    for _ in range(400):
        done = await harness.json("GET", path, headers=VIEWER)
        if done["complete"]:
            break
        await asyncio.sleep(0.01)
    assert done["status"] == "succeeded"
    assert done["result"]["judgeResult"]["score"]["score"] == 100.0


async def test_posted_configs_can_be_replaced_and_deleted(app) -> None:
    config = reviews_config("editable", config_id="edit-me", applications=("posted",))
    await app.json("POST", "/canaryConfig", json=config, headers=OPERATOR)
    created = await app.json("GET", "/canaryConfig/edit-me", headers=VIEWER)

    changed = {**config, "description": "second version"}
    await app.json("PUT", "/canaryConfig/edit-me", json=changed, headers=JUDGE, status=403)
    await app.json("PUT", "/canaryConfig/edit-me", json=changed, headers=OPERATOR)
    replaced = await app.json("GET", "/canaryConfig/edit-me", headers=VIEWER)
    assert replaced["description"] == "second version"
    assert replaced["createdTimestamp"] == created["createdTimestamp"]
    assert replaced["updatedTimestamp"] >= created["updatedTimestamp"]

    wrong_id = {**changed, "id": "other"}
    error = await app.json(
        "PUT", "/canaryConfig/edit-me", json=wrong_id, headers=OPERATOR, status=400
    )
    assert error["field"] == "id"
    response = await app.client.delete("/canaryConfig/edit-me", headers=OPERATOR)
    assert response.status == 204
    await app.json("GET", "/canaryConfig/edit-me", headers=VIEWER, status=404)
    await app.json("PUT", "/canaryConfig/edit-me", json=changed, headers=OPERATOR, status=404)
    audit = await app.context.store.audit.entries()
    assert [e.what for e in audit] == [
        "kayenta.config.create",
        "kayenta.config.update",
        "kayenta.config.delete",
    ]


async def test_configs_from_the_directory_are_read_only(app) -> None:
    error = await app.json(
        "PUT",
        "/canaryConfig/reviews-golden-id",
        json=reviews_config(),
        headers=OPERATOR,
        status=409,
    )
    assert "configDirectory" in error["message"]
    response = await app.client.delete("/canaryConfig/reviews-golden-id", headers=OPERATOR)
    assert response.status == 409


async def test_posted_configs_survive_a_restart(start_app, tmp_path: Path) -> None:
    state = tmp_path / "kept.db"
    first = await start_app(state=state)
    config = reviews_config("kept", config_id="kept-id", applications=("kept",))
    await first.json("POST", "/canaryConfig", json=config, headers=OPERATOR)
    await first.client.close()
    second = await start_app(state=state)
    listed = await second.json("GET", "/canaryConfig?application=kept", headers=VIEWER)
    assert [c["id"] for c in listed] == ["kept-id"]
