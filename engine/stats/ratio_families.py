"""Families of one-sided e-processes for a rate ratio, one per null on a grid.

A count test answers "is r above the tolerance r0?", and its interval answers "which
r are still plausible?". Both come from one family here: for every null ratio
r_j = r0 e^(h j) on a grid, an "up" e-process for H0: r <= r_j and a "down" e-process
for H0: r >= r_j. The test is the up e-process at j = 0; the lower end of the interval
is the largest null the up family has ever rejected, the upper end the smallest null
the down family has ever rejected. So a test that rejects always has its lower end at
or above r0, and each end is a (1 - alpha) confidence bound valid at all looks at once
(the two together, 1 - 2 alpha).

Reading the bounds off is cheap because the families are monotone along the grid at
every look: the log-likelihood L(theta) is concave, so the gain L(theta + d) - L(theta)
shrinks as theta grows, and a mixture of such gains over fixed offsets d is
nonincreasing in theta (up) or nondecreasing (down). The rejected nulls of one look
are therefore a contiguous run from one end, found by bisection. The burst-robust bets
are monotone for the same reason (the bet's factor falls as the null's q rises).

The grid's step is log(2)/8 and the alternatives are whole steps above (below) the
null, so every likelihood the mixtures need is accumulated once on the grid. The
offsets (0.17 to 2.17 in log ratio) and their weights (proportional to steps^-1/2) were
chosen with ``benchmarks/count_prior.py``: they kept the median events to detection
within 1.37x of the oracle SPRT for r in {1.25, 1.5, 2, 3} at canary shares 0.1 and 0.5,
where equal weights lost up to 1.47x at r = 1.25 and a geometric grid off the steps did
not allow the inversion.
"""

from __future__ import annotations

import numpy as np

from auspice.stats.fastmath import logsumexp

STEP = float(np.log(2.0) / 8.0)
#: Alternatives, in grid steps above (or below) the null, and their mixture weights
#: (proportional to steps^-1/2: small effects need the most help).
ALTERNATIVE_STEPS = np.array([2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 17, 20, 25])
ALTERNATIVE_WEIGHTS = ALTERNATIVE_STEPS**-0.5 / np.sum(ALTERNATIVE_STEPS**-0.5)
#: Nulls span ratios 1/8 .. 8 of the tolerance; bounds beyond are reported open.
NULL_STEPS = 24
#: Bet sizes (fractions of the largest safe bet) mixed by the burst-robust family.
BURST_FRACTIONS = np.array([0.05, 0.1, 0.2, 0.35, 0.6])
#: The burst family needs no alternatives on the grid, so its nulls are coarser.
BURST_STRIDE = 2
#: Clip of log(r0 * share ratio): keeps exp() and the bets finite for absurd shares.
LOGIT_LIMIT = 650.0


class BinomialFamily:
    """Binomial likelihood-ratio mixtures at every null of the grid, for M metrics."""

    def __init__(self, size: int, theta0: float) -> None:
        reach = NULL_STEPS + int(ALTERNATIVE_STEPS.max())
        self.theta0 = theta0
        self.positions = np.arange(-reach, reach + 1)
        self._scale = np.exp(STEP * self.positions)
        self._centre = reach
        self._log_w = np.log(ALTERNATIVE_WEIGHTS)[None, :]
        self.loglik = np.zeros((size, self.positions.size))

    def absorb(self, rows: np.ndarray, x_c: np.ndarray, x_b: np.ndarray,
               logit: np.ndarray) -> None:
        """Add x_c log q + x_b log(1 - q) at every grid ratio, q = the canary's share of
        errors expected at that ratio given this look's traffic share."""
        a = np.clip(self.theta0 + logit, -LOGIT_LIMIT, LOGIT_LIMIT)
        z = a[:, None] + STEP * self.positions[None, :]
        log1p_odds = np.log1p(np.exp(a)[:, None] * self._scale[None, :])
        self.loglik[rows] += x_c[:, None] * z - (x_c + x_b)[:, None] * log1p_odds

    def log_e(self, rows: np.ndarray, null: np.ndarray, direction: int) -> np.ndarray:
        """log E at grid null ``null`` (one per row): mixture of gains ``direction`` side."""
        at = self._centre + null
        gains = self.loglik[rows[:, None], at[:, None] + direction * ALTERNATIVE_STEPS[None, :]]
        return logsumexp(gains - self.loglik[rows, at][:, None] + self._log_w, axis=1)


class BurstFamily:
    """Bets on the canary's share of each look's events, at every (coarser) null."""

    def __init__(self, size: int, theta0: float) -> None:
        self.theta0 = theta0
        self.positions = np.arange(-NULL_STEPS, NULL_STEPS + 1, BURST_STRIDE)
        self._centre = NULL_STEPS // BURST_STRIDE
        shape = (size, self.positions.size, BURST_FRACTIONS.size)
        self.up = np.zeros(shape)
        self.down = np.zeros(shape)

    def absorb(self, rows: np.ndarray, x_c: np.ndarray, x_b: np.ndarray,
               logit: np.ndarray) -> None:
        share = (x_c / (x_c + x_b))[:, None, None]
        a = np.clip(self.theta0 + logit, -LOGIT_LIMIT, LOGIT_LIMIT)
        q = 1.0 / (1.0 + np.exp(-(a[:, None] + STEP * self.positions[None, :])))[:, :, None]
        f = BURST_FRACTIONS[None, None, :]
        self.up[rows] += np.log1p(f * (share / q - 1.0))
        self.down[rows] += np.log1p(-f * (share - q) / (1.0 - q))

    def all_log_e(self, rows: np.ndarray, direction: int) -> np.ndarray:
        bets = self.up[rows] if direction > 0 else self.down[rows]
        return logsumexp(bets, axis=2) - np.log(BURST_FRACTIONS.size)


def rejected_run(family: BinomialFamily | BurstFamily, rows: np.ndarray, threshold: float,
                 direction: int) -> np.ndarray:
    """Per row, the grid null at the end of this look's run of rejected nulls.

    Up (direction +1): the largest null rejected (nulls below it are too), or
    ``-NULL_STEPS - 1`` when none is. Down (-1): the smallest null rejected, or
    ``NULL_STEPS + 1``.
    """
    if isinstance(family, BurstFamily):
        rejected = family.all_log_e(rows, direction) >= threshold
        count = rejected.sum(axis=1)
        if direction > 0:
            return np.where(count > 0, family.positions[np.maximum(count - 1, 0)],
                            -NULL_STEPS - 1)
        last = family.positions.size - count
        return np.where(count > 0, family.positions[np.minimum(last, family.positions.size - 1)],
                        NULL_STEPS + 1)
    # bisection on the monotone family: ``inside`` counts as rejected, ``outside`` not
    inside = np.full(rows.size, -(NULL_STEPS + 1) * direction)
    outside = np.full(rows.size, (NULL_STEPS + 1) * direction)
    while (np.abs(outside - inside) > 1).any():
        active = np.abs(outside - inside) > 1
        mid = np.clip((inside + outside) // 2, -NULL_STEPS, NULL_STEPS)
        hit = family.log_e(rows, mid, direction) >= threshold
        inside = np.where(active & hit, mid, inside)
        outside = np.where(active & ~hit, mid, outside)
    return inside


def centre_log_e(family: BinomialFamily | BurstFamily, rows: np.ndarray) -> np.ndarray:
    """log E of the up e-process at the tolerance itself (the test)."""
    if isinstance(family, BurstFamily):
        return family.all_log_e(rows, +1)[:, family._centre]
    return family.log_e(rows, np.zeros(rows.size, dtype=np.int64), +1)
