"""Synthetic Istio-shaped metrics for three releases, as OpenMetrics text for backfilling.

The integration tests (templates, ``auspice analyze``/``backtest``, webhooks) need real
Prometheus answering real PromQL over data whose truth is known. This module produces
six hours of series in the shape Istio and cAdvisor export them, for a service
``reviews`` with a baseline (``v1``) and a canary (``v2``) in three clusters, under three
scenarios that differ only in the canary's behaviour:

========================  ==================  ===============================
scenario                  namespace           canary compared with baseline
========================  ==================  ===============================
``healthy``               ``shop-healthy``    same error rate, same latency
``error-regression``      ``shop-errors``     5xx ratio 0.5% -> 5%
``latency-regression``    ``shop-latency``    median latency 40 ms -> 80 ms
========================  ==================  ===============================

About 1% of requests are 404s (client errors an error-rate template must not count).
Failed requests (404, 500) are four times faster than successful ones.

Series (every 30 s by default, all scenarios in the same time window; use rate windows
of 2m or more):

* ``istio_requests_total`` (counter) with ``reporter="destination"``,
  ``destination_workload`` (``reviews-v1``/``reviews-v2``),
  ``destination_workload_namespace``, ``destination_version``,
  ``destination_canonical_revision``, ``destination_canonical_service`` (``reviews``),
  ``response_code`` (200, 404, 500) and ``cluster``. (Istio has more labels, such as
  ``source_workload``; they are left out to keep the backfill small.)
* ``istio_request_duration_milliseconds_bucket/_sum/_count`` with the same labels and
  Istio's default buckets;
* ``container_cpu_usage_seconds_total`` (counter) and ``container_memory_working_set_bytes``
  (gauge) with ``namespace``, ``pod``, ``container`` and ``cluster``; two pods per version.

The baseline runs through the whole window; the canary's series start at
``Scenario.canary_start`` (30 minutes in), so a query before that is "no data". Traffic
follows a mild daily wave, baseline 20 req/s and canary 5 req/s per cluster. Everything
is drawn from numpy generators seeded per scenario, so the same call gives the same
bytes. :class:`Dataset` also keeps the per-step counts it drew (the ground truth).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "CLUSTERS",
    "ISTIO_DURATION_BUCKETS_MS",
    "SCENARIOS",
    "START",
    "Dataset",
    "MetricSeries",
    "Scenario",
    "generate",
    "to_openmetrics",
]

#: 2026-01-01T00:00:00Z: a fixed window, so data and expected values never move.
START = 1_767_225_600.0
DURATION = 6 * 3600.0
STEP = 30.0
CLUSTERS = ("east", "west", "central")
CODES = ("200", "404", "500")
#: Istio's default buckets for istio_request_duration_milliseconds.
ISTIO_DURATION_BUCKETS_MS = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    300000, 600000, 1800000, 3600000,
)  # fmt: skip

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Scenario:
    """One release: who the canary and baseline are and how the canary behaves."""

    name: str
    namespace: str
    seed: int
    canary_error_ratio: float = 0.005
    canary_latency_ms: float = 40.0
    baseline_error_ratio: float = 0.005
    baseline_latency_ms: float = 40.0
    workload: str = "reviews"
    baseline_version: str = "v1"
    canary_version: str = "v2"
    baseline_rps: float = 20.0
    canary_rps: float = 5.0
    not_found_ratio: float = 0.01
    latency_sigma: float = 0.5
    canary_delay: float = 1800.0
    start: float = START
    duration: float = DURATION

    @property
    def canary_start(self) -> float:
        return self.start + self.canary_delay

    @property
    def end(self) -> float:
        return self.start + self.duration

    def versions(self) -> tuple[str, str]:
        return (self.baseline_version, self.canary_version)


SCENARIOS: Mapping[str, Scenario] = {
    "healthy": Scenario("healthy", "shop-healthy", seed=101),
    "error-regression": Scenario("error-regression", "shop-errors", seed=202,
                                 canary_error_ratio=0.05),
    "latency-regression": Scenario("latency-regression", "shop-latency", seed=303,
                                   canary_latency_ms=80.0),
}  # fmt: skip


@dataclass(frozen=True, eq=False)
class MetricSeries:
    """One series to backfill: family, sample name, labels, times and values."""

    family: str
    kind: str  # OpenMetrics type: counter, gauge or histogram
    name: str
    labels: Mapping[str, str]
    timestamps: FloatArray
    values: FloatArray


@dataclass
class Dataset:
    """All generated series plus the per-step request counts they were built from.

    ``requests[(scenario, cluster, version, code)]`` holds the number of requests in
    each step (aligned with ``timestamps(scenario, version)``).
    """

    series: list[MetricSeries] = field(default_factory=list)
    requests: dict[tuple[str, str, str, str], npt.NDArray[np.int64]] = field(default_factory=dict)
    scenarios: dict[str, Scenario] = field(default_factory=dict)

    def openmetrics(self) -> str:
        return to_openmetrics(self.series)

    def openmetrics_blocks(self, block: float = 7200.0) -> list[str]:
        """The same samples cut at multiples of ``block`` seconds, one text per block.

        promtool reads its whole input once per 2-hour block it writes; giving it one
        file per block (which can run in parallel) makes the backfill several times
        faster.
        """
        stamps = np.concatenate([item.timestamps for item in self.series])
        first = math.floor(stamps.min() / block)
        last = math.floor(stamps.max() / block)
        edges = [(first + index) * block for index in range(last - first + 2)]
        return [
            to_openmetrics(self.series, since=low, until=high)
            for low, high in itertools.pairwise(edges)
        ]

    def error_ratio(self, scenario: str, version: str, *, codes: Sequence[str] = ("500",)) -> float:
        """True share of ``codes`` among all requests of ``version`` over every cluster."""
        errors = total = 0
        for (name, _cluster, ver, code), counts in self.requests.items():
            if name == scenario and ver == version:
                total += int(counts.sum())
                errors += int(counts.sum()) if code in codes else 0
        return errors / total


def generate(
    scenarios: Iterable[Scenario] = SCENARIOS.values(),
    *,
    clusters: Sequence[str] = CLUSTERS,
    step: float = STEP,
) -> Dataset:
    """Draw every series of every scenario (deterministic for given arguments)."""
    dataset = Dataset()
    for scenario in scenarios:
        dataset.scenarios[scenario.name] = scenario
        rng = np.random.default_rng(scenario.seed)
        for cluster in clusters:
            for version in scenario.versions():
                _release_series(dataset, scenario, cluster, version, step, rng)
    return dataset


def _times(scenario: Scenario, version: str, step: float) -> FloatArray:
    first = scenario.canary_start if version == scenario.canary_version else scenario.start
    count = int((scenario.end - first) // step) + 1
    return first + step * np.arange(count, dtype=np.float64)


def _release_series(
    dataset: Dataset,
    scenario: Scenario,
    cluster: str,
    version: str,
    step: float,
    rng: np.random.Generator,
) -> None:
    canary = version == scenario.canary_version
    times = _times(scenario, version, step)
    rps = scenario.canary_rps if canary else scenario.baseline_rps
    wave = 1.0 + 0.3 * np.sin(2 * np.pi * (times - START) / 86_400.0)
    total = rng.poisson(rps * step * wave)
    error_ratio = scenario.canary_error_ratio if canary else scenario.baseline_error_ratio
    errors = rng.binomial(total, error_ratio)
    not_found = rng.binomial(total - errors, scenario.not_found_ratio)
    by_code = {"200": total - errors - not_found, "404": not_found, "500": errors}
    median = scenario.canary_latency_ms if canary else scenario.baseline_latency_ms
    labels = _istio_labels(scenario, cluster, version)
    for code in CODES:
        dataset.requests[(scenario.name, cluster, version, code)] = by_code[code]
        code_labels = {**labels, "response_code": code}
        dataset.series.append(
            MetricSeries("istio_requests", "counter", "istio_requests_total", code_labels,
                         times, np.cumsum(by_code[code]).astype(np.float64))
        )  # fmt: skip
        code_median = median if code == "200" else median / 4  # errors fail fast
        dataset.series.extend(
            _histogram(code_labels, times, by_code[code], code_median, scenario, rng)
        )
    dataset.series.extend(_container_series(scenario, cluster, version, times, total, rng))


def _istio_labels(scenario: Scenario, cluster: str, version: str) -> dict[str, str]:
    return {
        "cluster": cluster,
        "reporter": "destination",
        "destination_workload": f"{scenario.workload}-{version}",
        "destination_workload_namespace": scenario.namespace,
        "destination_canonical_service": scenario.workload,
        "destination_canonical_revision": version,
        "destination_version": version,
    }


def _histogram(
    labels: Mapping[str, str],
    times: FloatArray,
    counts: npt.NDArray[np.int64],
    median_ms: float,
    scenario: Scenario,
    rng: np.random.Generator,
) -> Iterator[MetricSeries]:
    samples = rng.lognormal(np.log(median_ms), scenario.latency_sigma, int(counts.sum()))
    step_of_sample = np.repeat(np.arange(len(counts)), counts)
    bounds = np.array(ISTIO_DURATION_BUCKETS_MS)
    bucket = np.searchsorted(bounds, samples, side="left")  # le: value <= bound
    per_step = np.zeros((len(counts), len(bounds) + 1), dtype=np.int64)
    np.add.at(per_step, (step_of_sample, bucket), 1)
    cumulative = np.cumsum(np.cumsum(per_step, axis=1), axis=0).astype(np.float64)
    family = "istio_request_duration_milliseconds"
    for index, bound in enumerate([*ISTIO_DURATION_BUCKETS_MS, float("inf")]):
        yield MetricSeries(family, "histogram", family + "_bucket",
                           {**labels, "le": _le(bound)}, times, cumulative[:, index])  # fmt: skip
    sums = np.cumsum(np.bincount(step_of_sample, weights=samples, minlength=len(counts)))
    yield MetricSeries(family, "histogram", family + "_sum", labels, times, np.round(sums, 3))
    yield MetricSeries(family, "histogram", family + "_count", labels, times, cumulative[:, -1])


def _le(bound: float) -> str:
    if bound == float("inf"):
        return "+Inf"
    return f"{bound:g}" if bound < 1e6 else str(int(bound))


def _container_series(
    scenario: Scenario,
    cluster: str,
    version: str,
    times: FloatArray,
    requests: npt.NDArray[np.int64],
    rng: np.random.Generator,
) -> Iterator[MetricSeries]:
    for index in range(2):
        pod = _pod_name(scenario, cluster, version, index)
        labels = {"cluster": cluster, "namespace": scenario.namespace, "pod": pod,
                  "container": scenario.workload}  # fmt: skip
        share = requests / 2.0
        # CPU is spent per request (2 ms), with no idle floor: CPU per request is only a
        # fair comparison when it does not depend on load, which the resources template
        # states as its precondition (a fixed idle cost makes a lightly loaded canary
        # look several times worse).
        cpu_seconds = 0.002 * share
        cpu_seconds *= rng.normal(1.0, 0.05, len(times)).clip(0.5, 1.5)
        yield MetricSeries("container_cpu_usage_seconds", "counter",
                           "container_cpu_usage_seconds_total", labels, times,
                           np.round(np.cumsum(cpu_seconds), 6))  # fmt: skip
        memory = 220e6 + 2e6 * rng.standard_normal(len(times)).cumsum() / np.sqrt(len(times))
        yield MetricSeries("container_memory_working_set_bytes", "gauge",
                           "container_memory_working_set_bytes", labels, times,
                           np.round(memory))  # fmt: skip


def _pod_name(scenario: Scenario, cluster: str, version: str, index: int) -> str:
    digest = hashlib.sha256(f"{scenario.name}/{cluster}/{version}".encode()).hexdigest()
    return f"{scenario.workload}-{version}-{digest[:9]}-{digest[9 + index * 5 : 14 + index * 5]}"


def to_openmetrics(
    series: Iterable[MetricSeries], *, since: float = -np.inf, until: float = np.inf
) -> str:
    """OpenMetrics text for ``promtool tsdb create-blocks-from openmetrics``.

    Only samples with ``since <= timestamp < until`` are written. Families are written
    together, each series' samples in time order (promtool drops out-of-order samples
    silently), and the text ends with ``# EOF``.
    """
    by_family: dict[str, list[MetricSeries]] = {}
    kinds: dict[str, str] = {}
    for item in series:
        by_family.setdefault(item.family, []).append(item)
        kinds[item.family] = item.kind
    lines: list[str] = []
    for family in sorted(by_family):
        lines.append(f"# TYPE {family} {kinds[family]}")
        for item in by_family[family]:
            order = np.argsort(item.timestamps, kind="stable")
            stamps, values = item.timestamps[order], item.values[order]
            keep = (stamps >= since) & (stamps < until)
            prefix = item.name + _label_text(item.labels)
            lines.extend(
                f"{prefix} {value!r} {stamp:.3f}"
                for stamp, value in zip(stamps[keep].tolist(), values[keep].tolist(), strict=True)
            )
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _label_text(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    body = ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(labels.items()))
    return "{" + body + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
