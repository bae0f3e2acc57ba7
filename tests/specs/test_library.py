"""The shipped library: every template validates, loads by name, and is documented."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import promql_parser
import pytest

from auspice import analyses
from auspice.specs import (
    AnalysisTemplate,
    HistogramMetric,
    Scope,
    SpecError,
    library,
    parse_template,
    promql,
)
from auspice.specs.checks import keeps_label
from auspice.specs.validate import validate

LIBRARY = Path(str(resources.files("auspice.analyses")))
NAMES = library.names()
README = Path(__file__).parents[2] / "analyses" / "README.md"
REVIEWS = Scope(version="v2", workload="reviews-v2", namespace="shop", cluster="east")


def test_the_library_has_the_templates_the_issue_asks_for() -> None:
    assert {"istio", "resources", "kayenta"} <= set(NAMES)
    assert {"istio/error-rate", "istio/latency", "resources/cpu-per-request",
            "resources/memory", "kayenta/error-rate"} <= set(library.presets())  # fmt: skip


def test_every_library_file_validates() -> None:
    files = sorted(LIBRARY.glob("*.yaml"))
    assert [path.stem for path in files] == list(NAMES)
    assert validate(files) == []


@pytest.mark.parametrize("name", NAMES)
def test_each_template_loads_by_name_and_is_documented(name: str) -> None:
    template = library.load(name)
    assert isinstance(template, AnalysisTemplate)
    assert template.name == name
    assert template.spec.description
    assert all(metric.description for metric in template.spec.metrics)
    assert all(metric.use is None for metric in template.spec.metrics)  # presets do not chain
    assert f"`{name}`" in README.read_text()


@pytest.mark.parametrize("name", NAMES)
def test_each_query_renders_for_a_real_scope_to_valid_promql(name: str) -> None:
    template = library.load(name)
    values = template.placeholder_values(REVIEWS)
    for metric in template.spec.metrics:
        for query in metric.queries().values():
            rendered = promql.render(query, values)
            promql.check_syntax(rendered)
            scoped = ('destination_workload="reviews-v2"', 'pod=~"reviews-v2-')
            assert any(fragment in rendered for fragment in scoped)
            assert 'cluster="east"' in rendered
            if isinstance(metric, HistogramMetric):
                assert keeps_label(promql_parser.parse(rendered), "le")


def test_istio_queries_use_istio_labels() -> None:
    error_rate = library.load("istio").metric("error-rate")
    values = library.load("istio").placeholder_values(REVIEWS)
    events = promql.render(error_rate.queries()["events"], values)
    for fragment in ('istio_requests_total{reporter="destination"', 'response_code=~"5.."',
                     'destination_workload_namespace="shop"',
                     'destination_canonical_revision="v2"'):  # fmt: skip
        assert fragment in " ".join(events.split()).replace("{ ", "{")
    latency = promql.render(library.load("istio").metric("latency").buckets, values)
    assert "istio_request_duration_milliseconds_bucket" in latency


def test_a_version_label_argument_switches_to_destination_version() -> None:
    template = library.load("istio")
    values = template.placeholder_values(REVIEWS, args={"versionLabel": "destination_version"})
    assert 'destination_version="v2"' in promql.render(template.metric("error-rate").total, values)


def test_unknown_library_template_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="istio"):
        analyses.text("nope")


def test_a_library_template_can_be_broken_and_is_then_reported() -> None:
    text = analyses.text("istio").replace("tolerance: 1.5", "tolerance: 0.5", 1)
    with pytest.raises(SpecError, match=r"tolerance is 0\.5"):
        parse_template(text, source="analyses/istio.yaml")
