"""Safe rendering: no value can change a query's structure, label values round-trip.

The structure of a query is promql-parser's syntax tree with every label value and
string literal blanked out; a rendered query must have the same structure as the same
template rendered with a harmless value.
"""

from __future__ import annotations

import re

import promql_parser
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from auspice.errors import ConfigError
from auspice.specs.promql import (
    PromQLSyntaxError,
    RenderError,
    check_syntax,
    escape_regex,
    placeholders,
    render,
)

HOSTILE = [
    '"} or vector(1) #',
    '"} or vector(1) # ',
    "\\",
    '\\"',
    "'",
    "`",
    "{{version}}",
    "}",
    "{",
    "\n",
    "a\nb\r\tc",
    "\x00\x01\x7f",
    "x'} or on() vector(1) or x{a='",
    ".*",
    "a|b",
    "(",
    "[5m]",
    "é中文🎉",
    "\u2028\u2029",
    "$1",
]

# Any Unicode text a label could hold (valid UTF-8: no lone surrogates).
label_values = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)

_DEBUG_STRING = r'"(?:[^"\\]|\\.)*"'


def structure(query: str) -> str:
    """The parsed tree of ``query`` with label values, regexes and strings blanked."""
    tree = repr(promql_parser.parse(query))
    tree = re.sub(rf"(value|val): {_DEBUG_STRING}", r'\1: ""', tree)
    return re.sub(rf"Regex\(\s*{_DEBUG_STRING},?\s*\)", "Regex()", tree)


def matcher_values(query: str) -> dict[str, str]:
    """label name -> matcher value of every selector in ``query``."""
    found: dict[str, str] = {}

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.MatrixSelector):
            node = node.vector_selector
        if isinstance(node, promql_parser.VectorSelector):
            for matcher in node.matchers.matchers:
                found[matcher.name] = matcher.value

    promql_parser.walk(promql_parser.parse(query), visit)
    return found


TEMPLATE = (
    "sum by (destination_version) (rate(istio_requests_total{"
    'destination_version="{{version}}", destination_workload=~"{{workload}}", '
    "destination_workload_namespace='{{namespace}}', response_code!~'{{code}}'}[{{interval}}]))"
    ' / on() group_left label_replace(up{cluster="{{cluster}}"}, "x", "{{version}}", "", "")'
    " # for {{version}}"
)
HARMLESS = {
    "version": "v1",
    "workload": "reviews",
    "namespace": "default",
    "code": "5..",
    "cluster": "east",
    "interval": "1m",
}


def test_placeholders_finds_every_name_with_optional_spaces() -> None:
    assert placeholders(TEMPLATE) == set(HARMLESS)
    assert placeholders("x{a='{{ a }}'}[{{b}}] {{ c}}") == {"a", "b", "c"}
    assert placeholders("x{a='{{ 1a }}'} {{a-b}}") == set()


# Hostile fragments embedded in arbitrary text.
hostile_values = st.one_of(
    label_values,
    st.builds(lambda a, b, c: a + b + c, label_values, st.sampled_from(HOSTILE), label_values),
)


@pytest.mark.parametrize("hostile", HOSTILE)
def test_each_hostile_value_keeps_the_structure(hostile: str) -> None:
    check_hostile(hostile, hostile[::-1])


@given(version=hostile_values, workload=hostile_values)
@example(version="", workload="")
def test_any_value_keeps_the_structure_and_round_trips(version: str, workload: str) -> None:
    check_hostile(version, workload)


def check_hostile(version: str, workload: str) -> None:
    values = dict(HARMLESS, version=version, workload=workload)
    rendered = render(TEMPLATE, values)
    assert structure(rendered) == structure(render(TEMPLATE, HARMLESS))
    matchers = matcher_values(rendered)
    assert matchers["destination_version"] == values["version"]
    regex = matchers["destination_workload"]
    assert regex == escape_regex(values["workload"])
    assert re.fullmatch(regex, values["workload"], flags=re.DOTALL)


@given(namespace=label_values, code=label_values, cluster=label_values)
def test_single_quoted_and_other_strings_round_trip(
    namespace: str, code: str, cluster: str
) -> None:
    values = dict(HARMLESS, namespace=namespace, code=code, cluster=cluster)
    rendered = render(TEMPLATE, values)
    assert structure(rendered) == structure(render(TEMPLATE, HARMLESS))
    matchers = matcher_values(rendered)
    assert matchers["destination_workload_namespace"] == namespace
    assert matchers["response_code"] == escape_regex(code)
    assert matchers["cluster"] == cluster


def test_regex_value_matches_only_itself() -> None:
    rendered = render('x{v=~"{{version}}"}', {"version": "1.2.3"})
    pattern = matcher_values(rendered)["v"]
    assert re.fullmatch(pattern, "1.2.3")
    assert not re.fullmatch(pattern, "1x2y3")


def test_injection_attempt_stays_inside_the_label_value() -> None:
    rendered = render('sum(x{v="{{version}}"})', {"version": '"} or vector(1) #'})
    assert rendered == 'sum(x{v="\\"} or vector(1) #"})'
    assert matcher_values(rendered) == {"v": '"} or vector(1) #'}


@given(value=st.text(max_size=30))
@example(value="1m] or vector(1) or x[1m")
@example(value="or")
@example(value="5m offset 1h")
@example(value="1e400")
def test_bare_placeholders_accept_only_strict_values(value: str) -> None:
    template = "rate(x[{{interval}}])"
    try:
        rendered = render(template, {"interval": value})
    except RenderError as error:
        assert error.placeholder == "interval"
        assert "{{interval}}" in str(error)
        return
    assert re.fullmatch(r"[0-9A-Za-z_:.+-]+", value)
    try:
        check_syntax(rendered)
    except PromQLSyntaxError:
        return  # e.g. "5s5s": invalid, but it cannot have become another query
    tree = promql_parser.parse(rendered)
    assert isinstance(tree, promql_parser.Call)
    assert [type(arg) for arg in tree.args] == [promql_parser.MatrixSelector]


@pytest.mark.parametrize(
    ("value", "kind"),
    [("30s", "duration"), ("1h30m", "duration"), ("0.99", "number"), ("1e3", "number"),
     ("job:requests:rate5m", "name"), ("destination_version", "name")],
)  # fmt: skip
def test_bare_values_that_fit_are_accepted(value: str, kind: str) -> None:
    assert render("{{q}}", {"q": value}) == value, kind


@pytest.mark.parametrize(
    ("value", "problem"),
    [("1m] or vector(1)", "not a duration"), ("or", "keyword"), ("OFFSET", "keyword"),
     ("-1", "not a duration"), ('"v1"', "not a duration"), ("", "not a duration")],
)  # fmt: skip
def test_bare_values_that_do_not_fit_are_refused_clearly(value: str, problem: str) -> None:
    with pytest.raises(RenderError, match=problem) as caught:
        render("x > {{limit}}", {"limit": value})
    assert "{{limit}}" in str(caught.value)
    assert isinstance(caught.value, ConfigError)


@given(value=label_values)
def test_comment_values_cannot_leave_the_comment(value: str) -> None:
    template = "x # owner {{team}}\n+ 1"
    rendered = render(template, {"team": value})
    assert structure(rendered) == structure("x + 1")


def test_unknown_placeholder_is_named() -> None:
    with pytest.raises(RenderError, match=r"\{\{versoin\}\}") as caught:
        render('x{v="{{versoin}}"}', {"version": "v1"})
    assert caught.value.placeholder == "versoin"
    assert "version" in str(caught.value)


def test_backtick_strings_are_refused_clearly() -> None:
    with pytest.raises(RenderError, match="backtick") as caught:
        render("x{v=`{{version}}`}", {"version": "v1"})
    assert caught.value.placeholder == "version"


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(RenderError, match="UTF-8"):
        render('x{v="{{version}}"}', {"version": "a\udc00"})


def test_numbers_are_accepted_as_values() -> None:
    assert render("x > {{limit}}", {"limit": 0.5}) == "x > 0.5"  # type: ignore[dict-item]


def test_check_syntax_accepts_valid_queries() -> None:
    check_syntax(render(TEMPLATE, HARMLESS))


@pytest.mark.parametrize(
    ("query", "message", "position"),
    [
        ("foo(x)", "unknown function with name 'foo'", (1, 1)),
        ("sum(\n  rate(x[5xm]))", "bad number or duration syntax: 5x", (2, 10)),
        ("sum(rate(x[5m])", "unclosed left parenthesis", None),
        ("rate(x[1e400])", "parser failure: cannot convert", None),
    ],
)
def test_check_syntax_reports_message_and_position(
    query: str, message: str, position: tuple[int, int] | None
) -> None:
    with pytest.raises(PromQLSyntaxError) as caught:
        check_syntax(query)
    error = caught.value
    assert isinstance(error, ConfigError)
    assert error.parser_message.startswith(message)
    assert error.position == position
    assert message in str(error)
    assert repr(query) in str(error)
