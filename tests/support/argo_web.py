"""What Argo Rollouts' ``web`` metric provider does with an AnalysisTemplate, replayed.

From the provider's source (metricproviders/webmetric) and its evaluator
(utils/evaluate): substitute ``{{args.NAME}}`` in the metric, send ``method`` (GET by
default) to ``url`` with each listed header set, and with a ``jsonBody`` send its JSON
encoding with ``Content-Type: application/json``; a non-2xx status is an Error; a body
that is not JSON is Successful as it is; otherwise the JSONPath picks the first value,
which becomes ``result`` in the conditions. With both conditions set, a met failure
condition wins; neither met is Inconclusive; with only one set, the other is its
negation. The condition language (antonmedv/expr) is translated to Python for the few
forms the examples use (``==``, ``!=``, ``in [..]``, ``&&``, ``||``, ``>=``, ``true``,
member access that yields nil for a missing key).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

_ARG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}")


def metric_of(template_file: str, metric: str) -> dict[str, Any]:
    document = yaml.safe_load((EXAMPLES / template_file).read_text())
    assert document["kind"] == "AnalysisTemplate"
    for item in document["spec"]["metrics"]:
        if item["name"] == metric:
            return item
    raise KeyError(metric)


def substitute(value: Any, args: dict[str, str]) -> Any:
    """``{{args.x}}`` replaced everywhere, as Argo resolves a metric before running it."""
    if isinstance(value, str):
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in args:
                raise KeyError(f"argument {name!r} not given (Argo would refuse the run)")
            return args[name]

        return _ARG.sub(one, value)
    if isinstance(value, dict):
        return {k: substitute(v, args) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, args) for v in value]
    return value


class Measurement:
    def __init__(self, phase: str, value: Any, status: int, body: Any) -> None:
        self.phase = phase  # Successful / Failed / Inconclusive / Error
        self.value = value
        self.status = status
        self.body = body

    def __repr__(self) -> str:
        return f"Measurement({self.phase}, {self.value!r}, HTTP {self.status})"


async def measure(client: TestClient, metric: dict[str, Any], args: dict[str, str],
                  *, base_url: str = "") -> Measurement:
    """One measurement of ``metric`` as the provider takes it, against the test client."""
    web = substitute(metric["provider"]["web"], args)
    method = web.get("method", "GET")
    headers = {h["key"]: h["value"] for h in web.get("headers", [])}
    data: bytes | None = None
    if "jsonBody" in web:
        data = json.dumps(web["jsonBody"]).encode()
        headers["Content-Type"] = "application/json"
    path = re.sub(r"^https?://[^/]+", "", web["url"])
    response = await client.request(method, base_url + path, data=data, headers=headers)
    raw = await response.read()
    if not 200 <= response.status < 300:
        return Measurement("Error", None, response.status, raw.decode(errors="replace"))
    try:
        body = json.loads(raw)
    except ValueError:
        return Measurement("Successful", raw.decode(), response.status, raw)
    value = jsonpath(body, web.get("jsonPath", "{$}"))
    return Measurement(evaluate(value, metric), value, response.status, body)


def jsonpath(body: Any, expression: str) -> Any:
    """The ``{$.a.b}`` subset of Kubernetes JSONPath the examples use."""
    match = re.fullmatch(r"\{\$((?:\.[A-Za-z0-9_-]+)*)\}", expression)
    assert match, f"unsupported JSONPath {expression!r}"
    value = body
    for key in filter(None, match.group(1).split(".")):
        if not isinstance(value, dict) or key not in value:
            raise AssertionError(f"JSONPath {expression} finds nothing in {body!r}")
        value = value[key]
    return value


def evaluate(result: Any, metric: dict[str, Any]) -> str:
    success = metric.get("successCondition")
    failure = metric.get("failureCondition")
    if not success and not failure:
        return "Successful"
    ok = _condition(success, result) if success else None
    bad = _condition(failure, result) if failure else None
    if ok is None:
        ok = not bad
    if bad is None:
        bad = not ok
    if bad:
        return "Failed"
    return "Successful" if ok else "Inconclusive"


class _Nil:
    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, _Nil)

    def __hash__(self) -> int:
        return 0


class _Member(dict):  # type: ignore[type-arg]
    """A map whose missing members are nil, as in expr."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        return _wrap(value) if value is not None else None


def _wrap(value: Any) -> Any:
    return _Member(value) if isinstance(value, dict) else value


def _condition(text: str, result: Any) -> bool:
    python = text.replace("&&", " and ").replace("||", " or ")
    python = re.sub(r"\btrue\b", "True", re.sub(r"\bfalse\b", "False", python))
    value = eval(python, {"__builtins__": {}}, {"result": _wrap(result)})
    assert isinstance(value, bool), f"condition {text!r} gave {value!r}, Argo needs a bool"
    return value
