"""Small numeric kernels on the judges' hot path.

A look over thousands of metrics spends its time in a few element-wise passes over
(metrics x grid) arrays. ``scipy.special.logsumexp`` validates and dispatches on every
call, which costs more than the arithmetic at these sizes, so the two kernels the judges
need are written here directly on numpy.
"""

from __future__ import annotations

import numpy as np


def logsumexp(a: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """log(sum(exp(a))) along ``axis``, stable for large and -inf entries."""
    peak = np.max(a, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    total = np.log(np.sum(np.exp(a - peak), axis=axis, keepdims=True)) + peak
    return total if keepdims else np.squeeze(total, axis=axis)


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)), exact to float precision for |z| up to the float range."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
