"""Auspice: a progressive-delivery analysis engine.

The package is laid out one concern per module (see DESIGN.md): the judges live in
:mod:`auspice.stats`, the sources of numbers in :mod:`auspice.metrics`, the hands that
move traffic in :mod:`auspice.traffic`, and the durable rollback in :mod:`auspice.gitops`.
"""

__version__ = "0.1.0"
