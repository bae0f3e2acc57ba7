"""Brent's root finder exactly as R's ``zeroin`` (and so Kayenta) runs it.

Why not ``scipy.optimize.brentq``: the function Kayenta solves, the standardised
Wilcoxon statistic as a function of the shift, is a *step* function.  On data with many
ties it has long flat stretches, and the point a solver returns depends on the exact
sequence of trial points, not only on where the sign changes.  Kayenta's numbers (the
reference cases in ``kayenta-suite.json``) are those of R's ``zeroin`` with an absolute
tolerance of 1e-4 and at most 1000 iterations, so this module reproduces that iteration
step for step: the same bracket bookkeeping, the same choice between secant, inverse
quadratic interpolation and bisection, the same floating-point expressions.

Written from the algorithm (Brent 1973, chapter 4; Forsythe, Malcolm & Moler's
``zeroin``), not from any source file.
"""

from __future__ import annotations

from collections.abc import Callable

DOUBLE_EPSILON = 2.220446049250313e-16
DEFAULT_TOL = 1e-4
DEFAULT_MAXITER = 1000


def _interpolation_step(
    a: float, fa: float, b: float, fb: float, c: float, fc: float
) -> tuple[float, float]:
    """Return (p, q) with p >= 0 such that b + p/q is the interpolated next point.

    Secant through (a, b) when only two distinct points are known, otherwise inverse
    quadratic interpolation through a, b and c.
    """
    cb = c - b
    if a == c:
        t1 = fb / fa
        p = cb * t1
        q = 1.0 - t1
    else:
        q = fa / fc
        t1 = fb / fc
        t2 = fb / fa
        p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
        q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
    if p > 0.0:
        q = -q
    else:
        p = -p
    return p, q


def zeroin(
    f: Callable[[float], float],
    lower: float,
    upper: float,
    *,
    f_lower: float | None = None,
    f_upper: float | None = None,
    tol: float = DEFAULT_TOL,
    maxiter: int = DEFAULT_MAXITER,
) -> float:
    """Find x in [lower, upper] with f(x) close to 0, the way R's ``zeroin`` does.

    ``f_lower`` and ``f_upper`` are f at the two ends when the caller already has them
    (Kayenta evaluates them first to check the bracket).  Like R, no bracketing check is
    made here: with f of the same sign at both ends the iteration still runs and returns
    where it stops.  When ``maxiter`` iterations do not converge, the last approximation is
    returned (R does the same and only flags it).
    """
    a, b = float(lower), float(upper)
    fa = f(a) if f_lower is None else float(f_lower)
    fb = f(b) if f_upper is None else float(f_upper)
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    c, fc = a, fa
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            # keep b the best approximation so far, c the other end of the bracket
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * DOUBLE_EPSILON * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            p, q = _interpolation_step(a, fa, b, fb, c, fc)
            if p < (0.75 * (c - b) * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0.0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b
