"""Kubernetes-style label selectors that choose the clusters of a wave.

Platform teams already describe clusters with labels (Argo CD cluster Secrets,
ApplicationSet generators, fleet tooling), so a wave says ``matchLabels: {env: prod,
region: eu}`` instead of listing names that go stale. The semantics are the Kubernetes
ones, so nobody has to learn a second dialect: ``matchLabels`` and every
``matchExpressions`` term must hold; ``NotIn`` and ``DoesNotExist`` also match clusters
without the key; an empty selector matches every cluster. Choosing among clusters is
:func:`auspice.traffic.selectors.select`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator

from auspice.specs.base import UserModel

__all__ = ["LabelSelector", "Requirement"]

Operator = Literal["In", "NotIn", "Exists", "DoesNotExist"]


class Requirement(UserModel):
    """One ``matchExpressions`` term."""

    key: str = Field(min_length=1)
    operator: Operator
    values: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Requirement:
        needs_values = self.operator in ("In", "NotIn")
        if needs_values and not self.values:
            raise ValueError(f"operator {self.operator} needs a non-empty 'values' list")
        if not needs_values and self.values:
            raise ValueError(f"operator {self.operator} takes no 'values'")
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        if self.operator == "In":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


class LabelSelector(UserModel):
    """``matchLabels`` plus ``matchExpressions``, all of which must hold.

    Built from YAML/JSON with :meth:`model_validate` (camelCase keys, as in Kubernetes).
    """

    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[Requirement] = Field(default_factory=list)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            requirement.matches(labels) for requirement in self.match_expressions
        )

    def __str__(self) -> str:
        terms = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        for r in self.match_expressions:
            values = f" ({','.join(r.values)})" if r.values else ""
            terms.append(f"{r.key} {r.operator}{values}")
        return ", ".join(terms) or "<everything>"


