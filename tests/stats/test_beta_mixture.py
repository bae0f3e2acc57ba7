"""The Beta-mixture baseline of the benchmark against the published reference value.

Lindon & Malek's Bayes factor for cumulative counts X = [40, 80] at rho = 0.5 and
concentration k = 100 is 26.521 (p = 0.0377). The benchmark's detection table compares
Auspice against this baseline, so the baseline must be right.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import betaln

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root

from benchmarks.baselines import BetaMixture, log_beta_mixture


def test_reference_value():
    log_bf = float(log_beta_mixture(40.0, 80.0, 0.5, 100.0))
    assert math.exp(log_bf) == pytest.approx(26.521, abs=5e-4)
    assert math.exp(-log_bf) == pytest.approx(0.0377, abs=5e-5)


def test_formula_at_another_share():
    x_c, x_b, rho, k = 17.0, 30.0, 0.2, 100.0
    expected = (betaln(k * rho + x_c, k * (1 - rho) + x_b) - betaln(k * rho, k * (1 - rho))
                - x_c * math.log(rho) - x_b * math.log(1 - rho))
    assert float(log_beta_mixture(x_c, x_b, rho, k)) == pytest.approx(expected, rel=1e-12)


def test_sequential_judge_uses_cumulative_counts():
    judge = BetaMixture(alpha=0.05, k=100.0)
    rejected = judge.update(np.array([15.0]), np.array([500.0]),
                            np.array([30.0]), np.array([500.0]))
    assert not rejected[0]
    rejected = judge.update(np.array([25.0]), np.array([500.0]),
                            np.array([50.0]), np.array([500.0]))
    assert judge.max_log_bf[0] == pytest.approx(math.log(26.521), abs=2e-5)
    assert rejected[0]  # 26.5 >= 1/0.05
