"""Admission: what Istio's validation webhook refuses in a VirtualService's weights."""

from __future__ import annotations

from support.kube.errors import JSON, ApiError

__all__ = ["admit", "istio_weight_errors"]

def istio_weight_errors(obj: JSON) -> list[str]:
    """What Istio's validating webhook would reject about the weights of a VirtualService."""
    spec = obj.get("spec") or {}
    errors: list[str] = []
    for section in ("http", "tcp", "tls"):
        for number, route in enumerate(spec.get(section) or []):
            where = f"{section}[{number}]" + (f" ({route['name']})" if route.get("name") else "")
            destinations = route.get("route") or []
            total = 0
            for destination in destinations:
                host = (destination.get("destination") or {}).get("host")
                if not host:
                    errors.append(f"{where}: destination is required (host missing)")
                weight = destination.get("weight", 0)
                if isinstance(weight, bool) or not isinstance(weight, int):
                    errors.append(f"{where}: weight {weight!r} is not an integer")
                    continue
                if not 0 <= weight <= 100:
                    errors.append(f"{where}: percentage {weight} is not in range 0..100")
                total += weight
            if len(destinations) > 1 and total != 100:
                errors.append(f"{where}: total destination weight {total} != 100")
    return errors


def admit(obj: JSON) -> None:
    if obj.get("kind") == "VirtualService":
        errors = istio_weight_errors(obj)
        if errors:
            message = (
                'admission webhook "validation.istio.io" denied the request: '
                "configuration is invalid: " + "; ".join(errors)
            )
            raise ApiError(400, "BadRequest", message)


