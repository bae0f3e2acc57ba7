"""The ``prometheus:`` settings of a metrics source, as users write them (camelCase).

Shared by ``auspice serve`` (its configuration file) and ``auspice analyze`` /
``backtest`` (their command-line options fill the same model), so a source is
configured the same way wherever it is used. The fields are
:class:`~auspice.metrics.prometheus.PrometheusSource`'s keyword arguments, name for name,
and :meth:`PrometheusConfig.source` builds one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from auspice.specs import Duration
from auspice.specs.base import FilePath, UserModel, bounded

if TYPE_CHECKING:
    from auspice.metrics.prometheus import PrometheusSource

__all__ = ["PrometheusConfig"]

Retries = bounded(int, low=0, high=10, what="retries", hint="between 0 and 10")


class PrometheusConfig(UserModel):
    """The Prometheus / Thanos querier every template's queries go to."""

    url: str
    timeout: Duration = 5.0
    headers: dict[str, str] = Field(default_factory=dict)
    bearer_token_file: FilePath | None = None
    ca_file: FilePath | None = None
    client_cert: FilePath | None = None
    client_key: FilePath | None = None
    insecure_skip_verify: bool = False
    partial_response: bool = False
    dedup: bool = True
    replica_labels: list[str] = Field(default_factory=list)
    thanos_parameters: bool = True
    retries: Retries = 1
    method: Literal["GET", "POST"] = "GET"

    def source(self, **overrides: Any) -> PrometheusSource:
        """The source these settings describe (``overrides``: e.g. a test's clock)."""
        from auspice.metrics.prometheus import PrometheusSource

        return PrometheusSource(self.url, **{**self.model_dump(exclude={"url"}), **overrides})
