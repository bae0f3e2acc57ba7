"""The test server's error answer and object identity, shared by its modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

__all__ = ["JSON", "KIND_OF_PLURAL", "KNOWN_PLURALS", "ApiError", "ObjectKey", "key_of"]

JSON = dict[str, Any]

# Plurals of the kinds the tests use; anything else is lower(kind) + "s".
KNOWN_PLURALS = {
    "VirtualService": "virtualservices",
    "DestinationRule": "destinationrules",
    "Secret": "secrets",
    "Lease": "leases",
    "Application": "applications",
    "Kustomization": "kustomizations",
    "GitRepository": "gitrepositories",
    "HelmRelease": "helmreleases",
    "ConfigMap": "configmaps",
}


KIND_OF_PLURAL = {plural: kind for kind, plural in KNOWN_PLURALS.items()}


class ApiError(Exception):
    """Ends a request with a Kubernetes ``Status`` answer."""

    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def response(self) -> web.Response:
        body: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return web.json_response(body, status=self.code)


@dataclass(frozen=True)
class ObjectKey:
    group: str  # "" for the core group
    plural: str
    namespace: str
    name: str

    def describe(self) -> str:
        resource = f"{self.plural}.{self.group}" if self.group else self.plural
        return f'{resource} "{self.name}"'


def key_of(obj: JSON) -> ObjectKey:
    """The store key of a full object (apiVersion, kind, metadata.namespace/name)."""
    api_version = obj["apiVersion"]
    group = api_version.rpartition("/")[0]
    kind = obj["kind"]
    plural = KNOWN_PLURALS.get(kind, kind.lower() + "s")
    meta = obj["metadata"]
    return ObjectKey(group, plural, meta.get("namespace", "default"), meta["name"])


