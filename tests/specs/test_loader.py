"""The generic loader: multi-document files, positions, kinds, presets and arguments."""

from __future__ import annotations

import io
import json
import math
import textwrap
from pathlib import Path

import promql_parser
import pytest

from auspice.cli.validate import run
from auspice.errors import ConfigError
from auspice.specs import (
    AnalysisTemplate,
    DocumentKind,
    GaugeMetric,
    KayentaMetric,
    Problem,
    SpecError,
    load_file,
    load_template,
    load_templates,
    parse_template,
    register_kind,
    template_from_data,
)
from auspice.specs import loader as loader_module
from auspice.specs.base import UserModel
from auspice.specs.checks import keeps_label
from auspice.specs.validate import validate, validate_report

HEAD = "apiVersion: auspice.dev/v1alpha1\nkind: AnalysisTemplate\n"


def template_text(name: str, metrics: str, spec: str = "") -> str:
    return (
        f"{HEAD}metadata:\n  name: {name}\nspec:\n{textwrap.indent(spec, '  ')}  metrics:\n"
        + textwrap.indent(textwrap.dedent(metrics), "    ")
    )


GAUGE = """\
- name: cpu
  kind: gauge
  tolerance: 1.2
  query: sum(rate(cpu_seconds_total{version="{{version}}"}[{{interval}}]))
"""


def test_a_multi_document_file_loads_every_template(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "---\n" + template_text("one", GAUGE) + "---\n" + template_text("two", GAUGE) + "---\n"
    )
    assert [t.name for t in load_templates(path)] == ["one", "two"]
    assert validate([path]) == []
    with pytest.raises(SpecError, match="exactly one AnalysisTemplate, found 2"):
        load_template(path)


def test_problems_in_later_documents_carry_file_lines(tmp_path: Path) -> None:
    first = template_text("one", GAUGE)
    broken = template_text("two", GAUGE.replace("tolerance: 1.2", "tolerance: 0.2"))
    path = tmp_path / "many.yaml"
    path.write_text(first + "---\n" + broken)
    offset = len(first.splitlines()) + 1
    expected_line = offset + broken.splitlines().index("      tolerance: 0.2") + 1
    (problem,) = validate([path])
    assert (problem.file, problem.line, problem.column) == (str(path), expected_line, 7)
    assert problem.field == "spec.metrics[0].tolerance"
    report = validate_report([path])
    assert [(d.name, d.ok) for d in report.documents] == [("one", True), ("two", False)]


def test_a_yaml_syntax_error_is_reported_with_its_line() -> None:
    text = template_text("x", GAUGE).replace("  kind: gauge", "  kind: [gauge")
    with pytest.raises(SpecError) as caught:
        parse_template(text, source="t.yaml")
    (problem,) = caught.value.problems
    assert problem.file == "t.yaml"
    opened = text.splitlines().index("      kind: [gauge") + 1
    assert (problem.line, problem.column) == (opened + 1, 16)  # where PyYAML gave up
    assert f"started on line {opened}" in problem.message
    assert problem.message.startswith("YAML syntax error")
    assert isinstance(caught.value, ConfigError)


def test_several_problems_of_one_document_are_all_reported_in_line_order() -> None:
    text = template_text("x", GAUGE.replace("tolerance: 1.2", "tolerance: 0.2"), "alpha: 2\n")
    with pytest.raises(SpecError) as caught:
        parse_template(text)
    fields = [p.field for p in caught.value.problems]
    assert fields == ["spec.alpha", "spec.metrics[0].tolerance"]
    assert "2 problems found" in str(caught.value)


class Widget(UserModel):
    api_version: str
    kind: str
    size: int


def test_the_loader_is_generic_over_models_and_kinds(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(loader_module, "_KINDS", dict(loader_module._KINDS))
    register_kind(DocumentKind(api_version="test/v1", kind="Widget", model=Widget))
    path = tmp_path / "w.yaml"
    path.write_text("apiVersion: test/v1\nkind: Widget\nsize: 3\n---\n"
                    "apiVersion: test/v1\nkind: Widget\nsize: big\nshape: round\n")  # fmt: skip
    with pytest.raises(SpecError) as caught:
        load_file(path, Widget)
    assert [(p.line, p.field) for p in caught.value.problems] == [(7, "size"), (8, "shape")]
    problems = validate([path])
    assert [(p.line, p.field) for p in problems] == [(7, "size"), (8, "shape")]
    path.write_text("apiVersion: test/v1\nkind: Widget\nsize: 3\n")
    expected = Widget.model_validate({"apiVersion": "test/v1", "kind": "Widget", "size": 3})
    assert load_file(path, Widget) == [expected]


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("apiVersion: auspice.dev/v1alpha1\nkind: Rollout\n", 2, "kind", "unknown kind 'Rollout'"),
        ("apiVersion: auspice.dev/v1alpha1\nmetadata: {}\n", 1, "kind", "'kind' is missing"),
        ("- a\n- b\n", 1, "", "not a mapping"),
    ],
)
def test_documents_are_dispatched_on_kind(
    tmp_path: Path, text: str, line: int, field: str, message: str
) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text(text)
    (problem,) = validate([path])
    assert (problem.line, problem.field) == (line, field)
    assert message in problem.message


def test_validate_reports_missing_paths_empty_directories_and_unreadable_files(
    tmp_path: Path,
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "latin1.yaml").write_bytes(b"kind: \xe9\n")
    problems = validate([tmp_path / "nope.yaml", tmp_path / "empty", tmp_path / "latin1.yaml"])
    assert [p.message for p in problems] == [
        "no such file or directory",
        "no *.yaml or *.yml files in this directory",
        problems[2].message,
    ]
    assert "cannot read the file" in problems[2].message
    assert all(p.line is None and p.hint for p in problems)


def test_problem_text_and_json() -> None:
    problem = Problem(file="a.yaml", line=3, column=5, field="spec.alpha", message="bad",
                      hint="fix it")  # fmt: skip
    assert str(problem) == "a.yaml:3:5: spec.alpha: bad (fix: fix it)"
    assert problem.as_dict()["line"] == 3
    assert str(Problem("a.yaml", None, None, "", "gone", "look")) == "a.yaml: gone (fix: look)"


def test_a_preset_field_override_merges_nested_mappings() -> None:
    text = template_text("k", """\
        - use: kayenta/latency-p99
          effectSize:
            allowedIncrease: 1.3
        - use: kayenta/latency-p99
          name: latency-strict
          critical: true
        """)  # fmt: skip
    template = parse_template(text)
    loose, strict = template.spec.metrics
    assert isinstance(loose, KayentaMetric) and isinstance(strict, KayentaMetric)
    assert loose.effect_size.allowed_increase == 1.3
    assert loose.effect_size.measure == "meanRatio"  # kept from the preset
    assert (loose.name, loose.critical, strict.name, strict.critical) == (
        "latency-p99", False, "latency-strict", True)  # fmt: skip


def test_user_args_win_over_preset_args() -> None:
    text = template_text(
        "u", "- use: istio/error-rate\n",
        "args:\n  - name: versionLabel\n    type: identifier\n    default: destination_version\n",
    )  # fmt: skip
    template = parse_template(text)
    defaults = {arg.name: arg.default for arg in template.spec.args}
    assert defaults == {"versionLabel": "destination_version", "clusterLabel": "cluster"}


def test_a_preset_kind_cannot_be_changed() -> None:
    text = template_text("u", "- use: istio/error-rate\n  kind: gauge\n")
    with pytest.raises(SpecError) as caught:
        parse_template(text)
    assert any(p.field == "spec.metrics[0].kind" and "differs" in p.message
               for p in caught.value.problems)  # fmt: skip


def test_template_from_data_runs_the_same_checks() -> None:
    data = {
        "apiVersion": "auspice.dev/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "d"},
        "spec": {"minDuration": "2h", "metrics": [{"use": "resources/memory"}]},
    }  # fmt: skip
    with pytest.raises(SpecError, match="longer than maxDuration"):
        template_from_data(data)
    data["spec"]["minDuration"] = "20m"
    template = template_from_data(data)
    assert isinstance(template.spec.metrics[0], GaugeMetric)


def _args_template() -> AnalysisTemplate:
    return parse_template(template_text(
        "a", GAUGE.replace('version="{{version}}"', 'route="{{route}}", le="{{limit}}"'),
        "args:\n  - name: route\n    pattern: '/[a-z/]*'\n"
        "  - name: limit\n    type: number\n    default: 5\n",
    ))  # fmt: skip


def test_arg_values_apply_defaults_and_check_values() -> None:
    template = _args_template()
    assert template.arg_values({"route": "/api"}) == {"route": "/api", "limit": "5"}
    with pytest.raises(ConfigError, match="needs a value for argument 'route'"):
        template.arg_values({})
    with pytest.raises(ConfigError, match="has no argument"):
        template.arg_values({"route": "/a", "rout": "/b"})
    with pytest.raises(ConfigError, match="does not match the pattern"):
        template.arg_values({"route": "api"})
    with pytest.raises(ConfigError, match="not an unsigned number"):
        template.arg_values({"route": "/a", "limit": "5 or 1"})


@pytest.mark.parametrize(
    ("query", "keeps"),
    [
        ("x_bucket", True),
        ("rate(x_bucket[1m])", True),
        ("sum by (le) (rate(x_bucket[1m]))", True),
        ("sum by (le, pod) (rate(x_bucket[1m]))", True),
        ("sum without (pod) (rate(x_bucket[1m]))", True),
        ("sum(rate(x_bucket[1m]))", False),
        ("sum by (pod) (rate(x_bucket[1m]))", False),
        ("sum without (le) (rate(x_bucket[1m]))", False),
        ("histogram_quantile(0.9, sum by (le) (rate(x_bucket[1m])))", False),
        ("(sum by (le) (rate(x_bucket[1m])))", True),
        ("2 * sum by (le) (rate(x_bucket[1m]))", True),
        ("sum by (le) (rate(x_bucket[1m])) / 60", True),
        ("topk(3, sum by (le) (rate(x_bucket[1m])))", True),
        ("max_over_time(sum by (le) (rate(x_bucket[1m]))[5m:1m])", True),
        ("vector(1)", False),
    ],
)
def test_keeps_label(query: str, keeps: bool) -> None:
    assert keeps_label(promql_parser.parse(query), "le") is keeps


def test_run_prints_problems_and_returns_the_exit_status(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(template_text("good", GAUGE))
    bad = tmp_path / "bad.yaml"
    bad.write_text(template_text("bad", GAUGE, "alpha: 0\n"))
    out = io.StringIO()
    assert run([good], out=out) == 0
    assert out.getvalue() == "1 document checked, all valid\n"
    out = io.StringIO()
    assert run([tmp_path], out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"{bad}:6:3: spec.alpha: alpha is 0")
    assert lines[-1] == "2 documents checked, 1 invalid; 1 problem"
    out = io.StringIO()
    assert run([tmp_path], as_json=True, out=out) == 1
    data = json.loads(out.getvalue())
    assert data["ok"] is False
    assert data["problems"][0]["field"] == "spec.alpha"
    assert data["problems"][0]["line"] == 6


def test_metrics_give_the_arguments_of_their_judges() -> None:
    istio = parse_template(template_text("i", """\
        - use: istio/error-rate
          burstRobust: true
        - use: istio/latency
        """))  # fmt: skip
    counts, histogram = istio.spec.metrics
    assert (counts.test_mode, histogram.test_mode) == ("burst", "binomial")  # type: ignore[union-attr]
    cpu = parse_template(template_text("g", GAUGE)).spec.metrics[0]
    assert isinstance(cpu, GaugeMetric)
    assert (cpu.compare, cpu.test_margin) == ("log_ratio", pytest.approx(math.log(1.2)))
    text = GAUGE.replace("tolerance: 1.2", "mode: difference\n  margin: 0.25")
    diff = parse_template(template_text("d", text)).spec.metrics[0]
    assert isinstance(diff, GaugeMetric)
    assert (diff.compare, diff.test_margin) == ("difference", 0.25)


def test_queries_are_checked_even_when_another_metric_is_malformed() -> None:
    histograms = textwrap.dedent("""\
        - name: p99
          kind: histogram
          tolerance: 1.5
          buckets: histogram_quantile(0.99, sum by (le) (rate(x_bucket{v="{{vesion}}"}[1m])))
        - name: p90
          kind: histogram
          tolerance: 1.5
          buckets: histogram_quantile(0.9, sum by (le) (rate(x_bucket{v="{{version}}"}[1m])))
        """)
    text = template_text("p", GAUGE.replace("tolerance:", "tolerence:") + histograms)
    with pytest.raises(SpecError) as caught:
        parse_template(text)
    found = [(p.field, p.message.split(" ")[0]) for p in caught.value.problems]
    assert found == [
        ("spec.metrics[0].tolerence", "unknown"),
        ("spec.metrics[1].buckets", "undefined"),
        ("spec.metrics[2].buckets", "the"),  # ... does not keep the 'le' label
    ]
