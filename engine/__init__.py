"""Auspice: a progressive-delivery analysis engine.

One package per step of the flow (docs/architecture.md): the judges in
:mod:`auspice.stats`, what users write in :mod:`auspice.specs`, the sources of numbers in
:mod:`auspice.metrics`, the clusters and their traffic in :mod:`auspice.traffic`, the
durable rollback in :mod:`auspice.gitops`, state in :mod:`auspice.storage`, one analysis in
:mod:`auspice.analysis`, the rollout engine in :mod:`auspice.rollouts`, and the command
line in :mod:`auspice.cli`.
"""

__version__ = "0.1.0"
