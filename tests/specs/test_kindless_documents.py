"""``auspice validate`` checks the files that have no ``kind``: the serve configuration, the
tokens document and the cluster labels file, recognised by their keys, every problem
placed at its line, the rules across fields included (the ones the service refuses to
start on)."""

from __future__ import annotations

from pathlib import Path

from auspice.cli.validate import run
from auspice.specs.validate import validate_report

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

CROSS_FIELD = """\
prometheus:
  url: "http://thanos:9090"
rollouts:
  clusters: {labelsFile: /x.yaml}
  git: {sshKeyFile: /k, tokenEnv: GIT_TOKEN}
"""


def test_the_shipped_serve_example_and_tokens_are_valid() -> None:
    report = validate_report([EXAMPLES / "serve.yaml", EXAMPLES / "tokens.yaml"])
    assert report.ok, [str(p) for p in report.problems]
    assert len(report.documents) == 2


def test_the_rules_the_service_refuses_are_placed_at_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text(CROSS_FIELD)
    problems = validate_report([path]).problems
    where = {(p.field, p.line) for p in problems}
    assert ("auth", 1) in where  # nobody could call
    assert ("rollouts.clusters.labelsFile", 4) in where
    assert ("rollouts.git", 5) in where
    assert any("gives both an SSH key and an HTTPS token" in p.message for p in problems)


def test_a_typo_in_a_serve_configuration_is_named_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("prometheus:\n  url: http://thanos:9090\n  timout: 5s\n"
                    "auth: {allowAnonymous: viewer}\n")
    problems = validate_report([path]).problems
    assert [(p.line, p.field) for p in problems] == [(3, "prometheus.timout")]
    assert "timeout" in (problems[0].hint or "")


def test_tokens_and_labels_files_are_recognised(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("tokens:\n  - {name: argo, role: juge, token: x}\n")
    labels = tmp_path / "clusters.yaml"
    labels.write_text("contexts:\n  prod-eu-1: {labels: {env: prod}, colour: blue}\n")
    problems = validate_report([tokens, labels]).problems
    fields = {p.field for p in problems}
    assert "tokens[0].role" in fields or "tokens.0.role" in fields, fields
    assert any(f.endswith("colour") for f in fields), fields


def test_a_document_that_is_nothing_known_lists_what_is(tmp_path: Path, capsys) -> None:
    path = tmp_path / "what.yaml"
    path.write_text("listen: {port: 8080}\n")  # a serve configuration without prometheus
    assert run([str(path)]) == 1
    out = capsys.readouterr().out
    assert "'kind' is missing" in out and "serve configuration" in out
