"""Fixtures for the traffic tests: test API servers, VirtualServices, inventories."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import yaml
from support.kube import (
    KubeApiServer,
    destination_rule,
    kube_api_servers,
    virtual_service,
    write_kubeconfig,
)

from auspice.traffic.clusters import ClusterInventory
from auspice.traffic.router import DriftEvent


@pytest.fixture
async def servers() -> AsyncIterator[list[KubeApiServer]]:
    async with kube_api_servers(3) as started:
        for server in started:
            server.seed(virtual_service())
            server.seed(destination_rule())
        yield started


LabelledInventory = Callable[[list[KubeApiServer], dict[str, dict[str, str]]], ClusterInventory]


@pytest.fixture
def labelled_inventory(tmp_path: Path) -> LabelledInventory:
    """Build an inventory from a kubeconfig for ``servers`` and a labels file."""

    def build(servers: list[KubeApiServer], labels: dict[str, dict[str, str]]) -> ClusterInventory:
        kubeconfig = write_kubeconfig(servers, tmp_path / "kubeconfig")
        labels_file = tmp_path / "clusters.yaml"
        contexts = {name: {"labels": value} for name, value in labels.items()}
        labels_file.write_text(yaml.safe_dump({"contexts": contexts}))
        return ClusterInventory.from_kubeconfig(kubeconfig, labels_file=labels_file)

    return build


@pytest.fixture
async def inventory(
    servers: list[KubeApiServer], labelled_inventory: LabelledInventory
) -> AsyncIterator[ClusterInventory]:
    inventory = labelled_inventory(servers, {s.name: {"env": "prod"} for s in servers})
    yield inventory
    await inventory.close()


@pytest.fixture
def events() -> list[DriftEvent]:
    return []
