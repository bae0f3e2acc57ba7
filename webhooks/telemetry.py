"""The service's own metrics (``/metrics``) and its structured logs.

Each :class:`ServiceMetrics` has its own registry rather than prometheus-client's global
one, so several apps in one test process do not collide and ``/metrics`` shows exactly
the service's series. Logs are one JSON object per line on stderr: a log pipeline can
index ``event``, ``judgement``, ``verdict`` and ``elapsed`` without parsing prose.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["JsonFormatter", "ServiceMetrics", "configure_logging", "log_event"]

LOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 8.0, 10.0, 30.0)


class ServiceMetrics:
    """Counters, gauges and histograms of one service instance."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.judgements = Counter(
            "auspice_judgements_total", "Judgement looks answered, by verdict and API.",
            ["verdict", "api"], registry=r)
        self.look_seconds = Histogram(
            "auspice_look_duration_seconds", "Time to compute one look (queries and judges).",
            ["api"], buckets=LOOK_BUCKETS, registry=r)
        self.query_errors = Counter(
            "auspice_query_errors_total", "Metrics queries that failed, by server.",
            ["server"], registry=r)
        self.queries = Counter(
            "auspice_queries_total", "Metrics queries sent to a server (cache misses).",
            ["server"], registry=r)
        self.cache_hits = Counter(
            "auspice_query_cache_hits_total", "Metrics queries answered from the cache.",
            registry=r)
        self.open_judgements = Gauge(
            "auspice_open_judgements", "Judgements whose last verdict is not final.",
            registry=r)
        self.http_requests = Counter(
            "auspice_http_requests_total", "HTTP requests by route and status.",
            ["route", "method", "status"], registry=r)
        self.deadline_exceeded = Counter(
            "auspice_look_deadline_exceeded_total",
            "Looks that did not finish within the configured deadline.", ["api"], registry=r)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and any ``extra`` fields."""

    _STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {
        "message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "info") -> None:
    """Send ``auspice`` logs as JSON lines to stderr (the process's, for ``auspice serve``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("auspice", "aiohttp.access", "aiohttp.server"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False


def log_event(logger: logging.Logger, event: str, *, level: int = logging.INFO,
              **fields: Any) -> None:
    """Log ``event`` with ``fields`` as JSON keys."""
    logger.log(level, event, extra={"event": event, **fields})
