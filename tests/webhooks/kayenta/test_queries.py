"""Kayenta templates -> Auspice templates -> PromQL (kayenta_queries), and the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from support.kayenta import reviews_config, write_configs

from auspice.errors import ConfigError
from auspice.webhooks.kayenta.api import load_config_directory
from auspice.webhooks.kayenta.models import CanaryConfig, ExecutionRequest, Scope
from auspice.webhooks.kayenta.queries import (
    QueryError,
    plan_queries,
    query_template,
    render_for_scope,
)


def one_metric(query: dict[str, Any], templates: dict[str, str] | None = None) -> CanaryConfig:
    return CanaryConfig.model_validate(
        {
            "name": "c",
            "applications": ["a"],
            "templates": templates or {},
            "metrics": [{"name": "m", "groups": ["g"], "query": {"type": "prometheus", **query}}],
        }
    )


def a_scope(**fields: Any) -> Scope:
    return Scope.model_validate(
        {
            "scope": "v2",
            "start": "2026-01-01T00:00:00Z",
            "end": "2026-01-01T02:00:00+01:00",
            "step": 60,
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("query", "templates", "expected"),
    [
        ({"customInlineTemplate": 'PromQL:up{v="${scope}"}'}, None, 'up{v="{{scope}}"}'),
        ({"customInlineTemplate": 'PromQL:up{v="$\\{ scope }"}'}, None, 'up{v="{{scope}}"}'),
        (
            {"metricName": "up", "customInlineTemplate": 'v="${scope}"'},
            None,
            'avg(up{v="{{scope}}"})',
        ),
        (
            {
                "metricName": "up",
                "customFilterTemplate": "f",
                "labelBindings": ['a="b"', 'c!=""'],
                "groupByFields": ["pod", "zone"],
            },
            {"f": 'v="${scope}"'},
            'avg(up{v="{{scope}}",a="b",c!=""}) by (pod,zone)',
        ),
        (
            {"metricName": "up", "resourceType": "aws_ec2_instance"},
            None,
            'avg(up{asg_groupName="{{scope}}",zone=~"{{location}}.{1}"})',
        ),
        (
            {"metricName": "up", "resourceType": "gce_instance", "scopeLabel": "instance_name"},
            None,
            'avg(up{instance_name=~"{{scope}}-.{4}",zone=~".+/zones/{{location}}-.{1}"})',
        ),
    ],
)
def test_templates(query: dict, templates: dict | None, expected: str) -> None:
    assert query_template(one_metric(query, templates), 0) == expected


@pytest.mark.parametrize(
    ("query", "templates", "field", "words"),
    [
        (
            {"customInlineTemplate": 'PromQL:up{v="${scope?upper_case}"}'},
            None,
            "metrics[0].query.customInlineTemplate",
            "FreeMarker",
        ),
        (
            {"customInlineTemplate": "PromQL:<#if x>up</#if>"},
            None,
            "metrics[0].query.customInlineTemplate",
            "FreeMarker",
        ),
        (
            {"customInlineTemplate": 'PromQL:up{v="{{scope}}"}'},
            None,
            "metrics[0].query.customInlineTemplate",
            "'{{'",
        ),
        (
            {"metricName": "up", "customFilterTemplate": "nope"},
            {"f": "x"},
            "metrics[0].query.customFilterTemplate",
            "not defined",
        ),
        (
            {"metricName": "up", "customFilterTemplate": "f"},
            {"f": "${a!'b'}"},
            "templates.f",
            "FreeMarker",
        ),
        (
            {"metricName": "up", "resourceType": "k8s_pod"},
            None,
            "metrics[0].query.resourceType",
            "no built-in filter",
        ),
        ({"metricName": "up"}, None, "metrics[0].query", "needs customInlineTemplate"),
    ],
)
def test_template_problems_name_the_config_field(query, templates, field, words) -> None:
    with pytest.raises(QueryError) as caught:
        query_template(one_metric(query, templates), 0)
    assert caught.value.field == field
    assert words in str(caught.value)


def test_rendering_binds_scope_location_and_extended_parameters() -> None:
    template = 'up{v="{{scope}}",l="{{location}}",t="{{team}}",r="{{resourceType}}"}'
    query = one_metric({"metricName": "up", "resourceType": "k8s"}).metrics[0].query
    rendered = render_for_scope(
        template,
        a_scope(region="eu", extendedScopeParams={"team": "a", "scope": "over"}),
        query,
        side="s",
    )
    # extendedScopeParams are bound last, as in Kayenta: they win
    assert rendered == 'up{v="over",l="eu",t="a",r="k8s"}'


def test_a_rendered_query_that_does_not_parse_is_refused() -> None:
    query = one_metric({"customInlineTemplate": "PromQL:x"}).metrics[0].query
    with pytest.raises(QueryError) as caught:
        render_for_scope('sum(up{v="{{scope}}"}', a_scope(), query, side="scopes.d.controlScope")
    assert caught.value.field == "scopes.d.controlScope"
    assert "syntax" in str(caught.value)


def test_plan_renders_both_sides_of_every_metric_with_its_scope_name() -> None:
    config = CanaryConfig.model_validate(
        {
            "name": "c",
            "applications": ["a"],
            "metrics": [
                {
                    "name": "m1",
                    "groups": ["g"],
                    "scopeName": "web",
                    "query": {
                        "type": "prometheus",
                        "customInlineTemplate": 'PromQL:up{v="${scope}"}',
                    },
                },
                {
                    "name": "m2",
                    "groups": ["g"],
                    "scopeName": "db",
                    "query": {
                        "type": "prometheus",
                        "customInlineTemplate": 'PromQL:db{v="${scope}"}',
                    },
                },
            ],
        }
    )
    request = ExecutionRequest.model_validate(
        {
            "scopes": {
                "web": {
                    "controlScope": a_scope(scope="w1").wire(),
                    "experimentScope": a_scope(scope="w2").wire(),
                },
                "db": {
                    "controlScope": a_scope(scope="d1").wire(),
                    "experimentScope": a_scope(scope="d2").wire(),
                },
            }
        }
    )
    plans = plan_queries(config, request)
    assert [(p.control, p.experiment) for p in plans] == [
        ('up{v="w1"}', 'up{v="w2"}'),
        ('db{v="d1"}', 'db{v="d2"}'),
    ]


# --------------------------------------------------------------------------- models


def test_a_config_exported_from_kayenta_loads_unchanged() -> None:
    exported = {
        **reviews_config(),
        "createdTimestamp": 1700000000000,
        "updatedTimestamp": 1700000000000,
        "createdTimestampIso": "2023-11-14T22:13:20Z",
        "updatedTimestampIso": "2023-11-14T22:13:20Z",
        "configVersion": 1.0,
    }
    exported["metrics"][0]["query"].update({"labelBindings": [], "groupByFields": []})
    config = CanaryConfig.model_validate(exported)
    assert config.config_version == "1.0"
    assert config.summary("x") == {
        "id": "x",
        "name": "reviews-golden",
        "updatedTimestamp": 1700000000000,
        "updatedTimestampIso": "2023-11-14T22:13:20Z",
        "applications": ["reviews"],
    }


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda c: c.update(name="has space"), "should match pattern"),
        (lambda c: c.update(applications=[]), "at least 1"),
        (lambda c: c["judge"].update(name="dredd-v1.0"), "not available"),
        (
            lambda c: c["classifier"].update(groupWeights={"errors": 80, "latency": 40}),
            "more than 100",
        ),
        (lambda c: c["metrics"][0]["query"].update(customFilter="x"), "deprecated"),
        (lambda c: c["metrics"][1].update(name="error-ratio"), "named 'error-ratio'"),
        (lambda c: c["metrics"][0].update(groups=[]), "at least 1"),
        (lambda c: c.update(metircs=[]), "Extra inputs"),
    ],
)
def test_config_mistakes_are_refused(change, words) -> None:
    config = reviews_config()
    change(config)
    with pytest.raises(ValidationError) as caught:
        CanaryConfig.model_validate(config)
    assert words in str(caught.value)


def test_scope_accepts_argo_region_but_not_two_different_locations() -> None:
    assert a_scope(region="eu").where == "eu"
    assert a_scope(region="", location="us").where == "us"
    assert a_scope(region="").where is None
    assert a_scope().points == 61  # 00:00Z .. 02:00+01:00 is one hour, step 60
    with pytest.raises(ValidationError, match="differ"):
        a_scope(region="eu", location="us")


def test_config_directory_loading(tmp_path: Path) -> None:
    directory = write_configs(
        tmp_path / "ok", reviews_config(), reviews_config("other", config_id=None)
    )
    assert sorted(load_config_directory(directory)) == ["other", "reviews-golden-id"]

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.json").write_text(json.dumps({**reviews_config(), "name": "bad name"}))
    with pytest.raises(ConfigError, match=r"bad\.json: name"):
        load_config_directory(broken)
    (broken / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not a readable JSON"):
        load_config_directory(broken)
    with pytest.raises(ConfigError, match="not a directory"):
        load_config_directory(tmp_path / "missing")
