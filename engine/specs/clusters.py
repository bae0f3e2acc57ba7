"""The cluster labels file: the labels (and optional names) of a kubeconfig's contexts.

A kubeconfig says how to reach each spoke but carries no labels, and waves select
clusters by label, so a small file next to it gives them::

    contexts:
      prod-eu-1: {labels: {env: prod, region: eu}}
      kind-staging: {name: staging-eu, labels: {env: staging}}

The inventory (:meth:`auspice.traffic.clusters.ClusterInventory.from_kubeconfig`) reads
it and checks that every context it names exists.
"""

from __future__ import annotations

from pydantic import Field

from auspice.specs.base import UserModel
from auspice.specs.loader import DocumentKind, register_kind

__all__ = ["ContextLabels", "LabelsFile"]

class ContextLabels(UserModel):
    """One context's entry in the labels file."""

    name: str | None = Field(default=None, min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)


class LabelsFile(UserModel):
    """``contexts: {CONTEXT: {name: optional cluster name, labels: {k: v}}}``."""

    contexts: dict[str, ContextLabels]


register_kind(DocumentKind(api_version="",
                           kind="cluster labels file (rollouts.clusters.labelsFile)",
                           model=LabelsFile, recognise=lambda data: set(data) == {"contexts"}))
