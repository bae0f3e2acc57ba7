"""The judges: anytime-valid tests that decide whether a canary is worse than its baseline.

Each test builds an e-process (docs/judges.md): look at it every interval for as long as
you like, stop whenever you like, and the chance of a false alarm stays under alpha.

- :class:`CountTest`: error rates from request and error counters;
- :class:`HistogramTest`: latency from Prometheus histogram buckets;
- :class:`GaugeTest`: CPU, memory and other levels, on batch means;
- :func:`share_alpha` and :func:`decide`: many metrics, one verdict;
- :mod:`auspice.stats.kayenta`: Kayenta's Mann-Whitney judge, for compatibility.
"""

from auspice.stats.combine import (
    Decision,
    MetricEvidence,
    MetricPolicy,
    Verdict,
    decide,
    share_alpha,
)
from auspice.stats.count import CountTest
from auspice.stats.gauge import GaugeTest
from auspice.stats.histogram import HistogramTest, choose_boundaries
from auspice.stats.results import TestResult

__all__ = [
    "CountTest",
    "Decision",
    "GaugeTest",
    "HistogramTest",
    "MetricEvidence",
    "MetricPolicy",
    "TestResult",
    "Verdict",
    "choose_boundaries",
    "decide",
    "share_alpha",
]
