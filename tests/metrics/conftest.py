"""Fixtures of the metrics tests: the shared backfilled Prometheus."""

from support.prometheus import istio_prometheus

__all__ = ["istio_prometheus"]
