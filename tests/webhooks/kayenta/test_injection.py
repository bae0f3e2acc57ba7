"""Hostile scope values cannot change a query: the exact queries sent are asserted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support.kayenta import (
    JUDGE,
    VIEWER,
    RecordingSource,
    constant_series,
    execution_request,
    scope,
)

HOSTILE = 'v2"} or vector(1) #'
WINDOW = (1_767_229_200.0, 1_767_232_800.0, 60.0)


def config(template: str, **query: Any) -> dict[str, Any]:
    return {
        "name": "hostile",
        "applications": ["shop"],
        "metrics": [
            {
                "name": "m",
                "query": {
                    "type": "prometheus",
                    **({"customInlineTemplate": template} if template else {}),
                    **query,
                },
                "groups": ["g"],
                "analysisConfigurations": {"canary": {}},
            }
        ],
        "templates": {"filter": 'app="${scope}",zone=~"${location}"'},
    }


@pytest.fixture
async def app(start_app):
    source = RecordingSource(answer=lambda q, s, e, st: [constant_series(1.0, s, e, st)])
    return await start_app(source=source)


async def sent(app, template: str, control: dict, experiment: dict, **query: Any) -> list[str]:
    body = {
        "canaryConfig": config(template, **query),
        "executionRequest": execution_request(control, experiment),
    }
    started = await app.json("POST", "/canary", json=body, headers=JUDGE)
    for _ in range(400):
        status = await app.json("GET", f"/canary/{started['canaryExecutionId']}", headers=VIEWER)
        if status["complete"]:
            break
        await asyncio.sleep(0.01)
    assert status["status"] == "succeeded", status
    assert {call[1:] for call in app.source.calls} == {WINDOW}
    return sorted(app.source.queries)


async def test_quote_breaking_scope_stays_inside_its_label_value(app) -> None:
    queries = await sent(
        app, 'PromQL:sum(rate(requests{version="${scope}"}[5m]))', scope("v1"), scope(HOSTILE)
    )
    assert queries == [
        'sum(rate(requests{version="v1"}[5m]))',
        'sum(rate(requests{version="v2\\"} or vector(1) #"}[5m]))',
    ]


async def test_regex_matcher_values_are_literal(app) -> None:
    queries = await sent(
        app,
        'PromQL:sum(up{zone=~"${location}-.", pod=~"${scope}.*"})',
        scope("web|.*", location="eu.west"),
        scope("v2)", location="us"),
    )
    assert queries == [
        'sum(up{zone=~"eu\\\\.west-.", pod=~"web\\\\|\\\\.\\\\*.*"})',
        'sum(up{zone=~"us-.", pod=~"v2\\\\).*"})',
    ]


async def test_single_quoted_strings_and_extended_parameters(app) -> None:
    queries = await sent(
        app,
        "PromQL:sum(up{team='${team}'})",
        scope("v1", extendedScopeParams={"team": "a'} or vector(1) #\nb"}),
        scope("v2", extendedScopeParams={"team": "plain"}),
    )
    assert queries == [
        "sum(up{team='a\\'} or vector(1) #\\nb'})",
        "sum(up{team='plain'})",
    ]


async def test_filter_templates_are_built_around_the_template_not_its_expansion(app) -> None:
    queries = await sent(
        app,
        "",
        scope('x",job=~".+'),
        scope("v2", location="z"),
        metricName="up",
        customFilterTemplate="filter",
        labelBindings=['job="api"'],
        groupByFields=["pod"],
    )
    assert queries == [
        'avg(up{app="v2",zone=~"z",job="api"}) by (pod)',
        'avg(up{app="x\\",job=~\\".+",zone=~"shop",job="api"}) by (pod)',
    ]


@pytest.mark.parametrize(
    ("template", "side", "bad", "field"),
    [
        # a bare placeholder takes durations, numbers and names only
        (
            "PromQL:sum(rate(requests[${window}]))",
            "experimentScope",
            {"extendedScopeParams": {"window": "5m])) or vector(1) #"}},
            "scopes.default.experimentScope.extendedScopeParams.window",
        ),
        # in Kayenta a scope of "PromQL:..." turned a filter into a whole query
        (
            "${scope}",
            "controlScope",
            {"scope": "PromQL:vector(1)"},
            "scopes.default.controlScope.scope",
        ),
        (
            "PromQL:sum(up{pod=`${scope}`})",
            "controlScope",
            {"scope": "v1"},
            "scopes.default.controlScope.scope",
        ),
    ],
)
async def test_values_that_cannot_be_placed_safely_are_refused(
    app, template: str, side: str, bad: dict, field: str
) -> None:
    scopes = {
        "controlScope": scope("v1", extendedScopeParams={"window": "5m"}),
        "experimentScope": scope("v2", extendedScopeParams={"window": "5m"}),
    }
    scopes[side] = {**scopes[side], **bad}
    query = {} if template.startswith("PromQL:") else {"metricName": "up"}
    body = {
        "canaryConfig": config(template, **query),
        "executionRequest": {
            "scopes": {"default": scopes},
            "thresholds": {"pass": 95, "marginal": 75},
        },
    }
    error = await app.json("POST", "/canary", json=body, headers=JUDGE, status=400)
    assert error["field"] == f"executionRequest.{field}", error
    assert app.source.calls == []
