"""Label selectors: Kubernetes semantics, validation, stable order."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from auspice.specs.selectors import LabelSelector
from auspice.traffic.selectors import select


@dataclass(frozen=True)
class Item:
    name: str
    labels: dict[str, str] = field(default_factory=dict, hash=False)


CLUSTERS = [
    Item("us-1", {"env": "prod", "region": "us", "platform": "aws"}),
    Item("eu-2", {"env": "prod", "region": "eu", "platform": "gcp"}),
    Item("eu-1", {"env": "prod", "region": "eu", "platform": "aws", "canary": "first"}),
    Item("dev", {"env": "dev"}),
]


def names(spec: dict) -> list[str]:
    return [item.name for item in select(CLUSTERS, LabelSelector.model_validate(spec))]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, ["dev", "eu-1", "eu-2", "us-1"]),
        ({"matchLabels": {"env": "prod"}}, ["eu-1", "eu-2", "us-1"]),
        ({"matchLabels": {"env": "prod", "region": "eu"}}, ["eu-1", "eu-2"]),
        (
            {"matchExpressions": [{"key": "region", "operator": "In", "values": ["us", "ap"]}]},
            ["us-1"],
        ),
        # NotIn matches clusters without the key too, as in Kubernetes
        (
            {"matchExpressions": [{"key": "region", "operator": "NotIn", "values": ["eu"]}]},
            ["dev", "us-1"],
        ),
        ({"matchExpressions": [{"key": "canary", "operator": "Exists"}]}, ["eu-1"]),
        (
            {"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]},
            ["dev", "eu-2", "us-1"],
        ),
        (
            {
                "matchLabels": {"env": "prod"},
                "matchExpressions": [
                    {"key": "platform", "operator": "In", "values": ["aws"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                ],
            },
            ["us-1"],
        ),
        ({"matchLabels": {"env": "staging"}}, []),
    ],
)
def test_selection(spec: dict, expected: list[str]) -> None:
    assert names(spec) == expected


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "needs a non-empty 'values'"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "takes no 'values'",
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]}, "operator"),
        ({"matchLabel": {"a": "b"}}, "Extra inputs"),
        ({"matchExpressions": [{"key": "", "operator": "Exists"}]}, "key"),
    ],
)
def test_invalid_selectors_are_refused(spec: dict, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        LabelSelector.model_validate(spec)


def test_selector_reads_back_as_text() -> None:
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {"env": "prod"},
            "matchExpressions": [{"key": "r", "operator": "In", "values": ["eu"]}],
        }
    )
    assert str(selector) == "env=prod, r In (eu)"
    assert str(LabelSelector()) == "<everything>"


labels = st.dictionaries(st.sampled_from("abc"), st.sampled_from("xyz"), max_size=3)


@given(
    items=st.lists(labels, max_size=8),
    key=st.sampled_from("abc"),
    values=st.lists(st.sampled_from("xyz"), min_size=1, max_size=3),
)
def test_not_in_is_the_complement_of_in_and_order_is_stable(
    items: list[dict[str, str]], key: str, values: list[str]
) -> None:
    clusters = [Item(f"c{i:02d}", item) for i, item in enumerate(items)]
    chosen_in = select(
        clusters,
        LabelSelector.model_validate(
            {"matchExpressions": [{"key": key, "operator": "In", "values": values}]}
        ),
    )
    chosen_not_in = select(
        reversed(clusters),
        LabelSelector.model_validate(
            {"matchExpressions": [{"key": key, "operator": "NotIn", "values": values}]}
        ),
    )
    assert sorted(c.name for c in chosen_in + chosen_not_in) == [c.name for c in clusters]
    assert [c.name for c in chosen_not_in] == sorted(c.name for c in chosen_not_in)
    exists = select(
        clusters,
        LabelSelector.model_validate({"matchExpressions": [{"key": key, "operator": "Exists"}]}),
    )
    assert {c.name for c in chosen_in} <= {c.name for c in exists}
