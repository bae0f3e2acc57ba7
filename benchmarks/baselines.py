"""The alternatives Auspice is measured against, written for vectorized simulation.

Each judge here takes one look for many simulated runs at once (arrays of length N)
and keeps its own state, like the Auspice tests do, so a benchmark can feed every
judge the very same simulated looks.

- :class:`OracleSPRT`: the likelihood-ratio test that knows the true ratio r, the best
  any level-alpha sequential test can do (Wald's SPRT, one-sided, no futility bound);
- :class:`BetaMixture`: Lindon & Malek's closed-form Beta-binomial mixture (Netflix's
  counts test, savvi's InhomogeneousPoissonProcess) with concentration k; it assumes
  one constant canary share, so it is fed the share of the cumulative requests;
- :class:`PlugInCount`: the predictable plug-in alternative (docs/judges.md)
  (the running estimate of r from earlier looks), a valid e-process worth comparing;
- :class:`FlaggerThreshold`: Flagger's request-success-rate check: a fixed bound on the
  canary's per-interval error rate, failing after ``threshold`` failed checks;
- :class:`KayentaStyle`: Kayenta's Mann-Whitney classifier on the per-interval error
  rate series, re-run on everything so far at every look, failing on a High.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln

from auspice.stats.fastmath import softplus
from auspice.stats.kayenta import ClassifierConfig, classify_with


def _binomial_loglik(theta, x_c, x_b, logit_share):
    z = theta + logit_share
    return x_c * z - (x_c + x_b) * softplus(z)


class OracleSPRT:
    def __init__(self, *, ratio: float, alpha: float = 0.05, tolerance: float = 1.0) -> None:
        self.theta, self.theta0 = np.log(ratio), np.log(tolerance)
        self.threshold = np.log(1 / alpha)
        self.log_lr = None

    def update(self, x_c, n_c, x_b, n_b) -> np.ndarray:
        if self.log_lr is None:
            self.log_lr = np.zeros(len(x_c))
        ok = (n_c > 0) & (n_b > 0)
        logit = np.log(np.where(ok, n_c, 1.0)) - np.log(np.where(ok, n_b, 1.0))
        step = (_binomial_loglik(self.theta, x_c, x_b, logit)
                - _binomial_loglik(self.theta0, x_c, x_b, logit))
        self.log_lr += np.where(ok, step, 0.0)
        return self.log_lr >= self.threshold


class BetaMixture:
    """Bayes factor B(k rho + X_c, k(1-rho) + X_b) / B(k rho, k(1-rho)) / (rho^X_c (1-rho)^X_b)."""

    def __init__(self, *, alpha: float = 0.05, k: float = 100.0) -> None:
        self.k, self.threshold = k, np.log(1 / alpha)
        self.totals = None
        self.max_log_bf = None

    def update(self, x_c, n_c, x_b, n_b) -> np.ndarray:
        if self.totals is None:
            self.totals = np.zeros((4, len(x_c)))
            self.max_log_bf = np.zeros(len(x_c))
        self.totals += np.array([x_c, n_c, x_b, n_b], dtype=float)
        xc, nc, xb, nb = self.totals
        rho = np.clip(nc / np.maximum(nc + nb, 1.0), 1e-9, 1 - 1e-9)
        self.max_log_bf = np.maximum(self.max_log_bf, log_beta_mixture(xc, xb, rho, self.k))
        return self.max_log_bf >= self.threshold


def log_beta_mixture(x_c, x_b, rho, k: float = 100.0):
    """Log Bayes factor of Lindon & Malek's Beta mixture for cumulative counts."""
    return (betaln(k * rho + x_c, k * (1 - rho) + x_b) - betaln(k * rho, k * (1 - rho))
            - x_c * np.log(rho) - x_b * np.log1p(-rho))


class PlugInCount:
    """Bets each look on the ratio estimated from the looks before it (predictable)."""

    def __init__(self, *, alpha: float = 0.05, tolerance: float = 1.0, prior: float = 2.0) -> None:
        self.theta0, self.threshold = np.log(tolerance), np.log(1 / alpha)
        self.prior = prior  # pseudo-events per arm that start the estimate at r = 1
        self.totals = None
        self.log_lr = self.max_log_lr = None

    def update(self, x_c, n_c, x_b, n_b) -> np.ndarray:
        if self.totals is None:
            self.totals = np.zeros((4, len(x_c)))
            self.log_lr, self.max_log_lr = np.zeros(len(x_c)), np.zeros(len(x_c))
        xc, nc, xb, nb = self.totals
        ok = (n_c > 0) & (n_b > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            estimate = ((xc + self.prior) / nc) / ((xb + self.prior) / nb)
        theta = np.maximum(np.log(np.where(nc > 0, estimate, 1.0)), self.theta0 + 0.05)
        logit = np.log(np.where(ok, n_c, 1.0)) - np.log(np.where(ok, n_b, 1.0))
        step = (_binomial_loglik(theta, x_c, x_b, logit)
                - _binomial_loglik(self.theta0, x_c, x_b, logit))
        self.log_lr += np.where(ok, step, 0.0)
        self.max_log_lr = np.maximum(self.max_log_lr, self.log_lr)
        self.totals += np.where(ok, np.array([x_c, n_c, x_b, n_b], dtype=float), 0.0)
        return self.max_log_lr >= self.threshold


class FlaggerThreshold:
    """Fails after ``threshold`` looks whose canary error rate exceeds ``max_error_rate``."""

    def __init__(self, *, max_error_rate: float, threshold: int = 5) -> None:
        self.max_error_rate, self.threshold = max_error_rate, threshold
        self.failed = None

    def update(self, x_c, n_c, x_b, n_b) -> np.ndarray:
        if self.failed is None:
            self.failed = np.zeros(len(x_c), dtype=int)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(n_c > 0, x_c / n_c, 0.0)
        self.failed += rate > self.max_error_rate
        return self.failed >= self.threshold


class KayentaStyle:
    """Kayenta's judge on the error-rate series, re-judged every ``every`` looks."""

    def __init__(self, *, every: int = 30, confidence: float = 0.98, tolerance: float = 0.25):
        self.every = every
        self.config = ClassifierConfig.parse({"confidence": confidence, "tolerance": tolerance,
                                              "direction": "increase", "critical": True})
        self.canary: list[np.ndarray] = []
        self.baseline: list[np.ndarray] = []
        self.failed = None

    def update(self, x_c, n_c, x_b, n_b) -> np.ndarray:
        if self.failed is None:
            self.failed = np.zeros(len(x_c), dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.canary.append(np.where(n_c > 0, x_c / n_c, np.nan))
            self.baseline.append(np.where(n_b > 0, x_b / n_b, np.nan))
        if len(self.canary) % self.every == 0:
            canary, baseline = np.array(self.canary), np.array(self.baseline)
            for run in np.flatnonzero(~self.failed):
                result = classify_with(canary[:, run], baseline[:, run], self.config)
                self.failed[run] = result.classification == "High"
        return self.failed.copy()


class Savvi:
    """savvi's InhomogeneousPoissonProcess (Lindon & Malek), one run per instance.

    Imported lazily: savvi (with cvxpy and matplotlib) is in the ``bench`` extra only.
    ``infer`` solves a convex program for the confidence interval at every update,
    which is what savvi's users pay per look.
    """

    def __init__(self, *, share: float, alpha: float = 0.05, k: float = 100.0) -> None:
        from savvi.multinomial import InhomogeneousPoissonProcess

        self.alpha = alpha
        self.test = InhomogeneousPoissonProcess(
            alpha, np.array([1.0 - share, share]), np.array([[-1.0, 1.0]]), k)

    def update(self, canary_events: float, baseline_events: float) -> bool:
        self.test.update(np.array([int(baseline_events), int(canary_events)]))
        self.test.infer()
        return bool(self.test.p_value[0] <= self.alpha)

    @property
    def odds(self) -> float:
        return float(self.test.odds)
