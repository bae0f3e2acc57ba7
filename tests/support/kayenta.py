"""For the Kayenta API tests: canary configs over the Istio test data, as Kayenta exports
them, the callers' tokens and request bodies, and a metrics source that records queries."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from auspice.metrics.source import MetricsSource, NoDataError, Series
from support.istio_data import SCENARIOS

Answer = Callable[[str, float, float, float], list[Series]]

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

#: The window of the API tests' executions, as text.
START = "2026-01-01T01:00:00Z"
END = "2026-01-01T02:00:00Z"

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


JUDGE = {"Authorization": "Bearer judge-token-0123456789ab"}


VIEWER = {"Authorization": "Bearer viewer-token-0123456789"}


OPERATOR = {"Authorization": "Bearer operator-token-0123456789"}


def scope(value: str = "v1", **extra: Any) -> dict[str, Any]:
    return {"scope": value, "location": "shop", "start": START, "end": END, "step": 60, **extra}


def execution_request(
    control: dict | None = None, experiment: dict | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "scopes": {
            "default": {
                "controlScope": control or scope("v1"),
                "experimentScope": experiment or scope("v2"),
            }
        },
        "thresholds": {"pass": 95, "marginal": 75},
        **extra,
    }


def constant_series(
    value: float, start: float, end: float, step: float, labels: dict[str, str] | None = None
) -> Series:
    timestamps = np.arange(start, end + step / 2, step, dtype=np.float64)
    return Series(labels or {}, timestamps, np.full(timestamps.shape, value))


@dataclass
class RecordingSource:
    """Records every range query, then answers from ``inner`` or ``answer``."""

    inner: MetricsSource | None = None
    answer: Answer | None = None
    calls: list[tuple[str, float, float, float]] = field(default_factory=list)
    server: str = "recording"

    async def close(self) -> None:
        if self.inner is not None:
            await self.inner.close()

    async def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        self.calls.append((promql, float(start), float(end), float(step)))
        if self.inner is not None:
            return await self.inner.query_range(promql, start, end, step)
        if self.answer is not None:
            series = self.answer(promql, start, end, step)
            if not series:
                raise NoDataError(query=promql, server="recording")
            return series
        raise NoDataError(query=promql, server="recording")

    @property
    def queries(self) -> list[str]:
        return [call[0] for call in self.calls]
