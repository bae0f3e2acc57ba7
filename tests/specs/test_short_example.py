"""The short example in docs/templates.md loads, and is as short as promised."""

from __future__ import annotations

import re
from pathlib import Path

from auspice.specs import CountsMetric, HistogramMetric, Scope, library, parse_template

DOC = Path(__file__).parents[2] / "docs" / "templates.md"


def _short_example() -> str:
    text = DOC.read_text()
    match = re.search(r"<!-- short-example -->\n```yaml\n(.*?)```", text, re.DOTALL)
    assert match, "docs/templates.md lost its short example"
    return match.group(1)


def test_the_short_example_fits_in_15_lines() -> None:
    lines = [line for line in _short_example().splitlines() if line.strip()]
    assert len(lines) <= 15


def test_the_short_example_gives_istio_error_rate_and_p99_latency() -> None:
    template = parse_template(_short_example(), source="docs/templates.md")
    error_rate, latency = template.spec.metrics
    assert isinstance(error_rate, CountsMetric) and isinstance(latency, HistogramMetric)
    assert (error_rate.name, error_rate.use, error_rate.tolerance) == (
        "error-rate", "istio/error-rate", 1.25)  # fmt: skip
    assert latency.effective_quantiles == (0.99,)
    assert latency.tolerance == 1.5
    # The queries are the library's, untouched by the overrides.
    assert error_rate.events == library.load("istio").metric("error-rate").events
    assert template.spec.max_duration == 1800
    assert template.spec.alpha == 0.05
    assert {arg.name for arg in template.spec.args} == {"versionLabel", "clusterLabel"}
    scope = Scope(version="v2", workload="checkout-v2", namespace="shop", cluster="eu-1")
    assert template.placeholder_values(scope)["versionLabel"] == "destination_canonical_revision"
