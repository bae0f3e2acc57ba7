"""What a metrics source hands to the analysis: series, "no data", and the interface.

The analysis asks one question per look: "give me this query from the canary's start
to now, one point per interval". :class:`MetricsSource` is that question, so the real
Prometheus/Thanos client and a simulated source for demos and tests are interchangeable.

Empty answers are the dangerous case. A canary that receives no traffic, a typo in a
label value, or a cluster whose metrics never reached Thanos all come back as an empty
result, and an empty list summed is zero errors. So a source never returns an empty
result: it raises :class:`NoDataError`, which the analysis turns into a "no data" look
(hold, and fail after the template's no-data limit). :class:`NoDataError` is
deliberately *not* a :class:`~auspice.errors.SourceError`: a failed look and a look
without data are different outcomes, and a handler written for one must not swallow
the other by accident.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from auspice.errors import AuspiceError

__all__ = ["MetricsSource", "NoDataError", "Series"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Series:
    """One time series: its labels and aligned arrays of timestamps and values.

    ``timestamps`` are seconds since the epoch (float64, ascending); ``values`` are
    float64 and may hold NaN and +/-inf exactly as the server reported them.
    """

    labels: Mapping[str, str]
    timestamps: FloatArray
    values: FloatArray = field(repr=False)

    def __post_init__(self) -> None:
        if self.timestamps.shape != self.values.shape or self.timestamps.ndim != 1:
            raise ValueError("timestamps and values must be 1-d arrays of the same length")

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    def __repr__(self) -> str:
        labels = ", ".join(f"{k}={v!r}" for k, v in sorted(self.labels.items()))
        return f"Series({{{labels}}}, {len(self)} points)"


class NoDataError(AuspiceError):
    """A query ran fine but matched no series: "no data", never zeros and never a pass."""

    def __init__(self, *, query: str, server: str) -> None:
        self.query = query
        self.server = server
        super().__init__(
            f"query {query!r} on {server} returned no series",
            hint="check the label values (version, workload, namespace, cluster) and that "
            "the canary receives traffic",
        )


class MetricsSource(Protocol):
    """Anything that can answer a range query with series (see the module docstring)."""

    #: Which server answers, for reasons, logs and metrics (never with credentials).
    server: str

    async def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        """Series of ``promql`` evaluated every ``step`` seconds from ``start`` to ``end``.

        Raises :class:`NoDataError` when no series matched, and a
        :class:`~auspice.errors.SourceError` when the source could not answer usefully.
        """
        ...

    async def close(self) -> None:
        """Release connections (a wrapper closes what it wraps)."""
        ...
