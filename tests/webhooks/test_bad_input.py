"""Bad requests get the right status and a message naming the problem; none is queried.

Every case runs against the real app with a source that counts the queries reaching
it (and would answer them): after each refused request the count must still be zero.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.service import GOOD, TOKENS, config_data

NEEDY = """\
apiVersion: auspice.dev/v1alpha1
kind: AnalysisTemplate
metadata:
  name: needy
spec:
  args:
    - name: service
      description: the mesh service name
  metrics:
    - name: errors
      kind: counts
      tolerance: 1.5
      events: sum(increase(errors_total{service="{{service}}", version="{{version}}"}[1m]))
      total: sum(increase(requests_total{service="{{service}}", version="{{version}}"}[1m]))
"""


def with_(**changes: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        target = body
        *parents, last = path.split("__")
        for parent in parents:
            target = target[parent]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return body


CASES = [
    # (id, body, status, words in message, field)
    ("malformed-json", b'{"template": "istio", ', 400, "not valid JSON", None),
    ("not-an-object", b'["istio"]', 400, "JSON object, not an array", None),
    ("empty", b"", 400, "empty", None),
    ("unknown-template", with_(template="no-such-template"), 404, "no template named", "template"),
    ("template-path", with_(template="../../etc/passwd"), 404, "not a valid name", "template"),
    ("missing-canary", with_(canary=...), 400, "canary: this field is required", "canary"),
    ("unknown-field", with_(canary__verison="v2"), 400, "canary.verison: unknown field",
     "canary.verison"),
    ("wrong-type", with_(canary__version=2), 400, "canary.version", "canary.version"),
    ("hostile-version", with_(canary__version='v2"} or vector(1) or {x="'), 400,
     "canary.version", "canary.version"),
    ("hostile-newline", with_(baseline__namespace="shop\n}"), 400, "baseline.namespace",
     "baseline.namespace"),
    ("placeholder-in-scope", with_(canary__workload="{{namespace}}"), 400, "canary.workload",
     "canary.workload"),
    ("backslash", with_(canary__version="v2\\"), 400, "canary.version", "canary.version"),
    ("unicode-quote", with_(canary__cluster="east\u201d"), 400, "canary.cluster",
     "canary.cluster"),
    ("too-long", with_(canary__version="v" * 300), 400, "canary.version", "canary.version"),
    ("control-in-arg", with_(args={"versionLabel": "a\u0000b"}), 400, "args.versionLabel",
     "args.versionLabel"),
    ("hostile-arg", with_(args={"versionLabel": 'version="v2"} or vector(1) #'}), 400,
     "argument 'versionLabel'", None),
    ("unknown-arg", with_(args={"colour": "red"}), 400, "has no argument(s) colour", None),
    ("future-start", with_(start="2999-01-01T00:00:00Z"), 400, "in the future", None),
    ("bad-start", with_(start="yesterday"), 400, "neither epoch seconds nor RFC 3339", None),
]


@pytest.mark.parametrize(("body", "status", "words", "field"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
async def test_bad_body_is_refused_before_any_query(make_service, body, status, words,
                                                    field) -> None:
    service = await make_service()
    got, answer = await service.post("/api/v1/judgements", body)
    assert got == status, answer
    assert words in answer["message"], answer
    assert answer["status"] == status and answer["error"]
    if field is not None:
        assert answer["field"] == field
    assert service.source.calls == []
    assert await service.context.store.judgements.count_open_judgements() == 0


async def test_missing_template_argument_is_named(make_service, tmp_path: Path) -> None:
    (tmp_path / "needy.yaml").write_text(NEEDY)
    service = await make_service(templates_dir=tmp_path)
    got, answer = await service.post("/api/v1/judgements", with_(template="needy"))
    assert got == 400
    assert "needs a value for argument 'service'" in answer["message"]
    assert "the mesh service name" in answer["message"]
    got, answer = await service.post("/api/v1/judgements",
                                     with_(template="needy", args={"service": "reviews"}))
    assert got == 200 and answer["verdict"] == "continue"
    assert service.source.calls == []  # opened, but no complete look yet


async def test_oversized_body_is_413(make_service) -> None:
    service = await make_service(config={**config_data(), "limits": {"maxBodyBytes": 2048}})
    body = with_(args={f"a{i}": "x" * 100 for i in range(40)})
    got, answer = await service.post("/api/v1/judgements", body)
    assert got == 413, answer
    assert "larger than the limit of 2048 bytes" in answer["message"]
    assert service.source.calls == []


@pytest.mark.parametrize(("headers", "status", "words"), [
    ({}, 401, "needs a bearer token"),
    ({"Authorization": "Bearer not-a-known-token-at-all"}, 401, "not valid"),
    ({"Authorization": TOKENS["judge"]}, 401, "not 'Bearer <token>'"),
    ({"Authorization": f"Basic {TOKENS['judge']}"}, 401, "not 'Bearer <token>'"),
    ({"Authorization": f"Bearer {TOKENS['viewer']}"}, 403, "needs judge"),
], ids=["missing", "wrong", "no-scheme", "basic", "viewer"])
async def test_token_problems_are_401_or_403(make_service, headers, status, words) -> None:
    service = await make_service()
    got, answer = await service.post("/api/v1/judgements", GOOD,
                                     headers={**headers, "Content-Type": "application/json"})
    assert got == status, answer
    assert words in answer["message"]
    assert service.source.calls == []
    if status == 401:
        assert answer["status"] == 401


async def test_every_role_reaches_what_it_may(make_service) -> None:
    service = await make_service()
    status, opened = await service.post("/api/v1/judgements", GOOD, role="operator")
    assert status == 200  # operator includes judge
    path = f"/api/v1/judgements/{opened['judgement']}"
    assert (await service.get(path, role="viewer"))[0] == 200
    assert (await service.get(path, role=None))[0] == 401
    assert (await service.get("/api/v1/audit", role="judge"))[0] == 403
    response = await service.client.delete(path, headers=service.headers("judge"))
    assert response.status == 403
    response = await service.client.delete(path, headers=service.headers("operator"))
    assert response.status == 200
    assert (await service.get(path))[0] == 404
    status, audit = await service.get("/api/v1/audit", role="operator")
    assert [e["what"] for e in audit["entries"]] == ["judgement.open", "judgement.look",
                                                     "judgement.delete"]
    assert {e["who"] for e in audit["entries"]} == {"operator-caller"}


async def test_unknown_route_and_method_are_json(make_service) -> None:
    service = await make_service()
    status, answer = await service.get("/api/v1/nothing")
    assert status == 404 and "no such endpoint" in answer["message"]
    response = await service.client.put("/api/v1/judgements", headers=service.headers())
    assert response.status == 405
    assert "not allowed" in (await response.json())["message"]
