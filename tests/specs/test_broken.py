"""Every broken template in ``broken/`` is reported once, at its line, with its field and fix.

Each file holds one distinct mistake and says in its header what must be reported:
``# field:``, ``# message:`` (a substring) and ``# fix:`` (a substring of the hint); the
offending line carries the marker ``# <-- here``. The line numbers are therefore written
by hand next to the mistake, independently of the code that finds them. The last tests
run ``auspice validate`` itself, as the console script in a subprocess.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.cli import run_subprocess

from auspice.errors import ConfigError
from auspice.specs import SpecError, load_template
from auspice.specs.validate import validate, validate_report

BROKEN = Path(__file__).parent / "broken"
ROOT = Path(__file__).parents[2]
LIBRARY = ROOT / "analyses"
FILES = sorted(BROKEN.glob("*.yaml"))
_HEADER = re.compile(r"^# (mistake|field|message|fix): ?(.*)$", re.MULTILINE)


def _expectation(path: Path) -> tuple[dict[str, str], int]:
    text = path.read_text()
    header = dict(_HEADER.findall(text))
    marked = [number for number, line in enumerate(text.splitlines(), 1) if "# <-- here" in line]
    assert len(marked) == 1, f"{path.name} must mark exactly one line"
    return header, marked[0]


def test_there_are_at_least_15_distinct_mistakes() -> None:
    mistakes = {_expectation(path)[0]["mistake"] for path in FILES}
    assert len(FILES) >= 15
    assert len(mistakes) == len(FILES)


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_each_mistake_is_reported_at_its_line_with_field_and_fix(path: Path) -> None:
    header, line = _expectation(path)
    problems = validate([path])
    assert len(problems) == 1, "\n".join(map(str, problems))
    (problem,) = problems
    assert problem.file == str(path)
    assert problem.line == line, str(problem)
    assert problem.field == header["field"]
    assert header["message"] in problem.message
    assert header["fix"] in problem.hint
    text = str(problem)
    assert text.startswith(f"{path}:{line}")
    assert "(fix: " in text


@pytest.mark.parametrize("path", FILES[:3], ids=[path.stem for path in FILES[:3]])
def test_loading_a_broken_template_raises_a_config_error_with_the_problem(path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_template(path)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.problems == validate([path])
    assert f"{path}:" in str(caught.value)


def test_validating_the_directory_reports_every_file_once() -> None:
    report = validate_report([BROKEN])
    assert sorted(problem.file for problem in report.problems) == sorted(map(str, FILES))
    assert not report.ok
    assert report.as_dict()["ok"] is False


def test_validate_command_names_every_broken_file_at_its_line() -> None:
    relative = BROKEN.relative_to(ROOT)
    done = run_subprocess(["validate", str(relative)], cwd=ROOT)
    assert done.status == 1, (done.out, done.err)
    assert "Traceback" not in done.err
    reported = [line for line in done.out.splitlines() if line.startswith(f"{relative}/")]
    for path in FILES:
        _header, line = _expectation(path)
        prefix = f"{relative / path.name}:{line}"
        mine = [text for text in reported if text.startswith(prefix)]
        assert len(mine) == 1, (prefix, done.out)
        assert re.match(rf"{re.escape(prefix)}(:\d+)?: ", mine[0]), mine[0]
        assert "(fix: " in mine[0]
    assert len(reported) == len(FILES)
    assert done.out.splitlines()[-1].endswith(f"{len(FILES)} problems")

    machine = run_subprocess(["validate", "--json", str(relative)], cwd=ROOT)
    assert machine.status == 1
    body = machine.json()
    assert body["ok"] is False
    assert sorted(p["file"] for p in body["problems"]) == sorted(
        str(relative / path.name) for path in FILES
    )


def test_validate_command_passes_the_library() -> None:
    templates = sorted(LIBRARY.glob("*.yaml"))
    assert templates
    done = run_subprocess(["validate", "analyses"], cwd=ROOT)
    assert done.status == 0, (done.out, done.err)
    assert done.out.strip().splitlines()[-1] == f"{len(templates)} documents checked, all valid"
    body = run_subprocess(["validate", "--json", "analyses"], cwd=ROOT).json()
    assert body["ok"] is True and body["problems"] == []
    assert sorted({d["file"] for d in body["documents"]}) == [
        f"analyses/{path.name}" for path in templates
    ]
    assert all(d["ok"] for d in body["documents"])
