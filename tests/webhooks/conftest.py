"""Fixtures of the webhook tests (defined in webhooks.harness)."""

from support.prometheus import istio_prometheus

from webhooks.harness import make_service

__all__ = ["istio_prometheus", "make_service"]
