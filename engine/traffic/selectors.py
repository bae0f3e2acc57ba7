"""Choosing the clusters of a wave: the clusters a label selector matches, in a fixed order.

The selector itself is what a user writes in a plan (:mod:`auspice.specs.selectors`);
this module applies it to the inventory's clusters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol, TypeVar

from auspice.specs.selectors import LabelSelector

__all__ = ["Labelled", "select"]


class Labelled(Protocol):
    """Anything with a ``name`` and ``labels`` (a :class:`~.clusters.Cluster`)."""

    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


L = TypeVar("L", bound=Labelled)


def select(items: Iterable[L], selector: LabelSelector) -> list[L]:
    """The items the selector matches, sorted by name so every run picks the same order."""
    return sorted((item for item in items if selector.matches(item.labels)), key=lambda i: i.name)
