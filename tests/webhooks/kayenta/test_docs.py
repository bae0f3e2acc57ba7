"""The examples in docs/kayenta-api.md are accepted as they are written."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from auspice.webhooks.kayenta.api import KayentaSettings
from auspice.webhooks.kayenta.models import CanaryConfig, ExecutionRequest
from auspice.webhooks.kayenta.queries import plan_queries

DOC = Path(__file__).resolve().parents[3] / "docs" / "kayenta-api.md"


def block(after: str, language: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    return text.split(after, 1)[1].split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_documented_config_and_request_render_to_the_documented_queries() -> None:
    config = CanaryConfig.model_validate(json.loads(block("## Canary configs", "json")))
    request = ExecutionRequest.model_validate(json.loads(block("## Execution request", "json")))
    plans = plan_queries(config, request)
    assert [p.experiment for p in plans][2] == (
        'avg(container_memory_working_set_bytes{namespace="shop",pod=~"reviews-v2-.*",'
        'container="reviews"})'
    )
    assert all('destination_version="v1"' in p.control for p in plans[:2])


def test_documented_settings_are_valid() -> None:
    settings = yaml.safe_load(block("## Settings", "yaml"))["kayenta"]
    parsed = KayentaSettings.model_validate(settings)
    assert parsed.allow_anonymous == "judge"
    assert parsed.execution_timeout == 120.0


def test_documented_analysis_template_uses_the_fields_argo_sends() -> None:
    template = yaml.safe_load(block("## Argo Rollouts", "yaml"))
    kayenta = template["spec"]["metrics"][0]["provider"]["kayenta"]
    scope = kayenta["scopes"][0]["controlScope"]
    assert set(scope) == {"scope", "region", "step", "start", "end"}
    assert kayenta["canaryConfigName"] == "reviews-golden"
