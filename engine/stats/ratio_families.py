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
are therefore a contiguous run from one end, and since an end of the interval only
ever moves inwards, a look needs one evaluation next to where it stands, and a
bisection only where that null is now rejected too. The burst-robust bets are
monotone for the same reason (the bet's factor falls as the null's q rises).

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
    """Binomial likelihood-ratio mixtures at every null of the grid, for M metrics.

    The log-likelihood at grid ratio theta0 + h k is, up to a term that is the same
    for every k (and so cancels from every likelihood ratio),
    ``h k X_c - sum_t m_t log(1 + exp(a_t + h k))`` with X_c the canary's events so
    far, m_t a look's events and a_t its log odds of traffic share. Only the second
    sum varies per look and grid point; it is the one array kept.
    """

    stride = 1

    def __init__(self, size: int, theta0: float) -> None:
        reach = NULL_STEPS + int(ALTERNATIVE_STEPS.max())
        self.theta0 = theta0
        self.positions = np.arange(-reach, reach + 1)
        self._scale = np.exp(STEP * self.positions)
        self._centre = reach
        self._log_w = np.log(ALTERNATIVE_WEIGHTS)[None, :]
        self._canary_events = np.zeros(size)
        self._penalty = np.zeros((size, self.positions.size))

    def absorb(self, rows: np.ndarray, x_c: np.ndarray, x_b: np.ndarray,
               logit: np.ndarray) -> None:
        """Add a look: m log(1 + odds q/(1-q)) at every grid ratio, q being the canary's
        share of errors expected at that ratio given this look's traffic share."""
        odds = np.exp(np.clip(self.theta0 + logit, -LOGIT_LIMIT, LOGIT_LIMIT))
        term = np.multiply(odds[:, None], self._scale[None, :])
        np.log1p(term, out=term)
        term *= (x_c + x_b)[:, None]
        self._canary_events[rows] += x_c
        _add_rows(self._penalty, rows, term)

    def _loglik(self, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Log-likelihood (up to a per-row constant) at ``columns``, shaped like them."""
        rows = rows.reshape((-1,) + (1,) * (columns.ndim - 1))
        return (STEP * self.positions[columns] * self._canary_events[rows]
                - self._penalty[rows, columns])

    def log_e(self, rows: np.ndarray, index: np.ndarray, direction: int) -> np.ndarray:
        """log E at null ``index`` (0 .. 2 NULL_STEPS, one per row), betting ``direction``."""
        at = self._centre - NULL_STEPS + index
        gains = (self._loglik(rows, at[:, None] + direction * ALTERNATIVE_STEPS[None, :])
                 - self._loglik(rows, at)[:, None])
        return logsumexp(gains + self._log_w, axis=1)


class BurstFamily:
    """Bets on the canary's share of each look's events, at every (coarser) null."""

    stride = BURST_STRIDE

    def __init__(self, size: int, theta0: float) -> None:
        self.theta0 = theta0
        self.positions = np.arange(-NULL_STEPS, NULL_STEPS + 1, BURST_STRIDE)
        shape = (size, self.positions.size, BURST_FRACTIONS.size)
        self._bets = {+1: np.zeros(shape), -1: np.zeros(shape)}

    def absorb(self, rows: np.ndarray, x_c: np.ndarray, x_b: np.ndarray,
               logit: np.ndarray) -> None:
        share = (x_c / (x_c + x_b))[:, None]
        a = np.clip(self.theta0 + logit, -LOGIT_LIMIT, LOGIT_LIMIT)
        z = a[:, None] + STEP * self.positions[None, :]
        # q and 1 - q each computed directly: 1 - q rounds to 0 long before q does
        q, not_q = 1.0 / (1.0 + np.exp(-z)), 1.0 / (1.0 + np.exp(z))
        f = BURST_FRACTIONS[None, None, :]
        up = np.multiply(f, (share / q - 1.0)[:, :, None])
        down = np.multiply(f, ((1.0 - share) / not_q - 1.0)[:, :, None])
        _add_rows(self._bets[+1], rows, np.log1p(up, out=up))
        _add_rows(self._bets[-1], rows, np.log1p(down, out=down))

    def log_e(self, rows: np.ndarray, index: np.ndarray, direction: int) -> np.ndarray:
        """log E at null ``index`` (0 .. NULL_STEPS, one per row): the mean of the bets."""
        bets = self._bets[direction][rows, index]
        return logsumexp(bets, axis=1) - np.log(BURST_FRACTIONS.size)


Family = BinomialFamily | BurstFamily


def _add_rows(target: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """``target[rows] += values``, without the gather and scatter when rows are all rows
    (the usual look, where every metric had events)."""
    if rows.size == target.shape[0]:
        target += values
    else:
        target[rows] += values


def extend_bound(family: Family, rows: np.ndarray, bound: np.ndarray, threshold: float,
                 direction: int) -> np.ndarray:
    """The bound moved to the end of this look's run of rejected nulls, if that is further.

    ``bound`` is, per row, the grid null (in steps) the interval's end has reached:
    up (direction +1) the largest null ever rejected, ``-NULL_STEPS - 1`` for none;
    down (-1) the smallest, ``NULL_STEPS + 1`` for none. The rejected nulls of a look
    run contiguously from the far end, so the bound can only move if the null next
    to it is rejected now: one evaluation per row in the common case, and a bisection
    over the rest of the grid only for the rows where it did move.
    """
    last = 2 * NULL_STEPS // family.stride  # index of the outermost null
    index = np.where(bound > NULL_STEPS, last + 1,
                     np.where(bound < -NULL_STEPS, -1, (bound + NULL_STEPS) // family.stride))
    nxt = index + direction
    open_rows = (nxt >= 0) & (nxt <= last)
    if not open_rows.any():
        return bound
    sub = np.flatnonzero(open_rows)
    hit = family.log_e(rows[sub], nxt[sub], direction) >= threshold
    sub = sub[hit]
    if sub.size == 0:
        return bound
    # bisection on the monotone family: ``inside`` is rejected, ``outside`` is not
    inside = nxt[sub]
    outside = np.full(sub.size, last + 1 if direction > 0 else -1)
    while (active := np.abs(outside - inside) > 1).any():
        mid = (inside + outside) // 2
        mid_hit = np.zeros(sub.size, dtype=bool)
        mid_hit[active] = family.log_e(rows[sub[active]], mid[active], direction) >= threshold
        inside = np.where(mid_hit, mid, inside)
        outside = np.where(active & ~mid_hit, mid, outside)
    moved = bound.copy()
    moved[sub] = inside * family.stride - NULL_STEPS
    return moved


def centre_log_e(family: Family, rows: np.ndarray) -> np.ndarray:
    """log E of the up e-process at the tolerance itself (the test)."""
    return family.log_e(rows, np.full(rows.size, NULL_STEPS // family.stride), +1)
