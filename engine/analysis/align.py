"""Lining up what Prometheus returned into looks: one value (or bucket row) per interval.

A range query answers with series of points at the step's timestamps; a look needs, for
each metric, role and scope, one number per look end time (or one row of cumulative
bucket counts for a histogram). Points off the look grid are dropped, counts of several
series are summed, and a gauge or Kayenta query that returned several series is an
:class:`AnalysisError` (it must be aggregated), as is a histogram without ``le`` labels
or without its ``+Inf`` bucket, or canary and baseline histograms with different buckets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auspice.errors import AuspiceError
from auspice.metrics.source import Series

__all__ = ["AnalysisError", "LookData", "aligned", "bucket_matrix", "same_buckets"]

class AnalysisError(AuspiceError):
    """A query's answer cannot be used as the metric's kind requires (e.g. many series)."""


@dataclass(frozen=True)
class LookData:
    """What the queries returned, lined up per look (index k = look k + 1)."""

    times: np.ndarray  # end time of each look
    values: Mapping[tuple[str, str, str], Any]  # (metric, role, scope) -> array or None
    le: Mapping[str, np.ndarray] = field(default_factory=dict)  # histogram metric -> bounds
    reference: Mapping[str, np.ndarray] = field(default_factory=dict)  # pre-canary buckets


def _index(series: Series, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a series' points among the look times (points off the grid dropped)."""
    step = times[1] - times[0] if times.size > 1 else 1.0
    pos = np.rint((series.timestamps - times[0]) / step).astype(np.int64)
    keep = (pos >= 0) & (pos < times.size) & np.isclose(times[np.clip(pos, 0, times.size - 1)],
                                                       series.timestamps, atol=step * 1e-3)
    return pos[keep], series.values[keep]


def aligned(series: list[Series] | None, times: np.ndarray, query: str, *,
             additive: bool) -> np.ndarray | None:
    """One value per look (NaN where a look has no point); counts are summed over series."""
    if series is None:
        return None
    if len(series) > 1 and not additive:
        labels = "; ".join(str(dict(s.labels)) for s in series[:3])
        raise AnalysisError(f"query {query!r} returned {len(series)} series ({labels}...) where "
                            "one value per look is needed",
                            hint="aggregate it, e.g. wrap it in sum(...) or avg(...)")
    out = np.full(times.size, np.nan)
    for s in series:
        pos, values = _index(s, times)
        out[pos] = np.where(np.isnan(out[pos]), values, out[pos] + values)
    return out


def same_buckets(le: dict[str, np.ndarray], metric: str, bounds: np.ndarray) -> None:
    """Record a histogram's ``le`` values; canary, baseline and reference must agree."""
    if bounds.size == 0:
        return
    known = le.setdefault(metric, bounds)
    if known.shape != bounds.shape or not np.allclose(known, bounds):
        raise AnalysisError(f"metric {metric!r}: canary and baseline histograms have different "
                            f"buckets ({known.tolist()} vs {bounds.tolist()})",
                            hint="both versions must export the same histogram buckets")


def bucket_matrix(series: list[Series] | None, times: np.ndarray,
                   query: str) -> tuple[np.ndarray | None, np.ndarray]:
    """(looks x buckets) cumulative bucket increases, le ascending, summed by ``le``."""
    if series is None:
        return None, np.array([])
    by_le: dict[float, np.ndarray] = {}
    for s in series:
        if "le" not in s.labels:
            raise AnalysisError(f"query {query!r} returned a series without an 'le' label "
                                f"({dict(s.labels)})", hint="aggregate with sum by (le) (...)")
        bound = float(s.labels["le"])
        column = by_le.setdefault(bound, np.full(times.size, np.nan))
        pos, values = _index(s, times)
        column[pos] = np.where(np.isnan(column[pos]), values, column[pos] + values)
    bounds = np.array(sorted(by_le))
    if not np.isinf(bounds[-1]):
        raise AnalysisError(f"query {query!r} has no le=\"+Inf\" bucket",
                            hint="keep every bucket of the histogram in the query")
    return np.column_stack([by_le[b] for b in bounds]), bounds


