"""Every broken template in ``broken/`` is reported once, at its line, with its field and fix.

Each file holds one distinct mistake and says in its header what must be reported:
``# field:``, ``# message:`` (a substring) and ``# fix:`` (a substring of the hint); the
offending line carries the marker ``# <-- here``. The line numbers are therefore written
by hand next to the mistake, independently of the code that finds them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auspice.errors import ConfigError
from auspice.specs import SpecError, load_template
from auspice.validate import validate, validate_report

BROKEN = Path(__file__).parent / "broken"
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
