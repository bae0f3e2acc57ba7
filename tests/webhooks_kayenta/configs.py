"""Kayenta canary configs over the Istio test data, as Kayenta exports them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.istio_data import SCENARIOS

SELECT = (
    'reporter="destination",destination_workload_namespace="${location}",'
    'destination_version="${scope}"'
)

ERROR_RATIO = (
    "PromQL:sum(rate(istio_requests_total{" + SELECT + ',response_code=~"5.."}[2m]))'
    " / sum(rate(istio_requests_total{" + SELECT + "}[2m]))"
)
LATENCY_P50 = (
    "PromQL:histogram_quantile(0.5, sum by (le) "
    "(rate(istio_request_duration_milliseconds_bucket{" + SELECT + "}[2m])))"
)

#: An hour well after every canary started (30 minutes into the data).
WINDOW_START = SCENARIOS["healthy"].start + 3600.0
WINDOW_END = WINDOW_START + 3600.0


def iso(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def metric(name: str, template: str, group: str, **canary: Any) -> dict[str, Any]:
    return {
        "name": name,
        "query": {
            "type": "prometheus",
            "serviceType": "prometheus",
            "customInlineTemplate": template,
        },
        "groups": [group],
        "analysisConfigurations": {"canary": {"direction": "increase", **canary}},
        "scopeName": "default",
    }


def reviews_config(
    name: str = "reviews-golden",
    *,
    config_id: str | None = "reviews-golden-id",
    applications: tuple[str, ...] = ("reviews",),
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": name,
        "description": "error ratio and median latency of reviews",
        "configVersion": "1",
        "applications": list(applications),
        "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
        "metrics": [
            metric("error-ratio", ERROR_RATIO, "errors", nanStrategy="replace"),
            metric("latency-p50", LATENCY_P50, "latency"),
        ],
        "templates": {},
        "classifier": {"groupWeights": {"errors": 50, "latency": 50}},
    }
    if config_id is not None:
        config["id"] = config_id
    return config


def write_configs(directory: Path, *configs: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for config in configs:
        (directory / f"{config['name']}.json").write_text(json.dumps(config, indent=2))
    return directory
