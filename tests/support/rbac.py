"""What a client asked a :class:`~support.kube_api.KubeApiServer` for, in RBAC's terms,
and whether a rendered Role allows it.

A request ``GET /apis/networking.istio.io/v1/namespaces/shop/virtualservices/checkout``
is the access (group ``networking.istio.io``, resource ``virtualservices``, verb ``get``,
namespace ``shop``, name ``checkout``); a GET of the collection is ``list``. Comparing
these with a chart's Role in both directions shows the Role grants exactly what the code
sends: nothing the code needs is missing, nothing is granted that it never uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Access", "accesses", "allows", "granted", "refused", "unused"]

_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)/namespaces/(?P<namespace>[^/]+)"
    r"/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?$"
)
_ITEM_VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}
_COLLECTION_VERBS = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}


@dataclass(frozen=True, order=True)
class Access:
    group: str
    resource: str
    verb: str
    namespace: str
    name: str | None = None


def accesses(requests: Iterable[tuple[str, str]]) -> set[Access]:
    """The accesses of recorded ``(method, path)`` requests."""
    found = set()
    for method, path in requests:
        match = _PATH.match(path)
        assert match, f"not a namespaced API path: {path}"
        name = match["name"]
        verb = (_ITEM_VERBS if name else _COLLECTION_VERBS)[method]
        found.add(Access(match["group"] or "", match["resource"], verb, match["namespace"],
                         name))
    return found


def allows(role: Mapping[str, Any], access: Access) -> bool:
    """Whether ``role`` (a rendered Role) allows ``access`` in its namespace."""
    if role["metadata"]["namespace"] != access.namespace:
        return False
    for rule in role["rules"]:
        if (access.group in rule["apiGroups"] and access.resource in rule["resources"]
                and access.verb in rule["verbs"]):
            names = rule.get("resourceNames")
            if not names or (access.name is not None and access.name in names):
                return True
    return False


def granted(role: Mapping[str, Any]) -> set[Access]:
    """Every (group, resource, verb, namespace, name-or-None) the Role spells out."""
    namespace = role["metadata"]["namespace"]
    return {Access(group, resource, verb, namespace, name)
            for rule in role["rules"]
            for group in rule["apiGroups"] for resource in rule["resources"]
            for verb in rule["verbs"] for name in (rule.get("resourceNames") or [None])}


def refused(roles: Iterable[Mapping[str, Any]], used: Iterable[Access]) -> list[Access]:
    """The accesses no Role allows."""
    roles = list(roles)
    return sorted(access for access in used if not any(allows(role, access) for role in roles))


def unused(roles: Iterable[Mapping[str, Any]], used: Iterable[Access]) -> list[Access]:
    """The grants of ``roles`` no access needed (a named grant needs that very name), and
    the grants of a whole kind where the code only ever touched named objects."""
    used = list(used)

    def needed(grant: Access) -> bool:
        return any((a.group, a.resource, a.verb, a.namespace)
                   == (grant.group, grant.resource, grant.verb, grant.namespace)
                   and (grant.name is None or a.name == grant.name) for a in used)

    unneeded = [grant for role in roles for grant in granted(role) if not needed(grant)]
    # get/patch/update/delete of one object: a grant of every object of the kind is wider
    # than the code needs when the code names its objects (a Role can name them)
    unneeded += [grant for role in roles for grant in granted(role)
                 if grant.name is None and grant.verb in _ITEM_VERBS.values()
                 and any(a.name for a in used if (a.resource, a.verb) ==
                         (grant.resource, grant.verb))]
    return sorted(unneeded)
