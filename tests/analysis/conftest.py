"""Fixtures of the analysis tests: the shared backfilled Prometheus (support.prometheus)."""

from support.prometheus import istio_prometheus

__all__ = ["istio_prometheus"]
