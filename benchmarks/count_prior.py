"""How CountTest's alternatives were chosen: median events to detection per mixture.

    python -m benchmarks.count_prior [--runs 1000]

Event by event (no look discretization), for rate ratios r in {1.25, 1.5, 2, 3} at
canary shares 0.5 and 0.1, it simulates the canary's share of errors and reports the
median number of errors each candidate mixture needs to reach 1/alpha, as a ratio to
the oracle SPRT that knows r. Candidates: equal weights over geometric grids of
log-ratio excesses delta = log(r / r0) with different ranges and sizes, and whole steps
of log(2)/8 (which the interval's inversion needs, see ``auspice.stats.ratio_families``)
with equal or decreasing weights. ``shipped`` is ``ALTERNATIVE_DELTAS`` with
``ALTERNATIVE_WEIGHTS``.
Writes ``benchmarks/results/count_prior.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from auspice.stats.count import ALTERNATIVE_DELTAS, ALTERNATIVE_WEIGHTS
from auspice.stats.fastmath import logsumexp

ALPHA = 0.05
_STEPS = ALTERNATIVE_DELTAS / (np.log(2) / 8)
CANDIDATES = {
    **{f"geometric {lo}-{hi} x{k}": (np.geomspace(lo, hi, k), np.ones(k))
       for lo, hi, k in [(0.05, 2.5, 40), (0.1, 2.5, 30), (0.1, 2.5, 10), (0.15, 2.2, 15)]},
    "steps, equal weights": (ALTERNATIVE_DELTAS, np.ones(_STEPS.size)),
    "steps, weights steps^-1": (ALTERNATIVE_DELTAS, 1.0 / _STEPS),
    "shipped (steps, weights steps^-1/2)": (ALTERNATIVE_DELTAS, ALTERNATIVE_WEIGHTS),
}
RESULTS = Path(__file__).resolve().parent / "results"


def median_events(canary_errors: np.ndarray, share: float, deltas: np.ndarray,
                  weights: np.ndarray | None = None) -> float:
    """Median events until log(sum_g w_g LR(r0 e^delta_g)) >= log(1/alpha), r0 = 1."""
    q = share * np.exp(deltas) / (share * np.exp(deltas) + 1 - share)
    up, down = np.log(q / share), np.log((1 - q) / (1 - share))
    weights = np.ones(deltas.size) if weights is None else np.asarray(weights, float)
    log_w = np.log(weights / weights.sum())
    runs, events = canary_errors.shape
    stop = np.full(runs, np.inf)
    for n in range(1, events + 1):
        alive = np.isinf(stop)
        if not alive.any():
            break
        x = canary_errors[alive, n - 1][:, None]
        log_e = logsumexp(x * up + (n - x) * down + log_w, axis=1)
        stop[np.flatnonzero(alive)[log_e >= np.log(1 / ALPHA)]] = n
    return float(np.median(stop))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.count_prior")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows = []
    for share in (0.5, 0.1):
        for ratio in (1.25, 1.5, 2.0, 3.0):
            q = share * ratio / (share * ratio + 1 - share)
            events = 3000 if share == 0.5 else 6000
            errors = np.cumsum(rng.random((args.runs, events)) < q, axis=1)
            oracle = median_events(errors, share, np.array([np.log(ratio)]))
            row = {"share": share, "ratio": ratio, "oracle": oracle}
            for name, (deltas, weights) in CANDIDATES.items():
                row[name] = median_events(errors, share, deltas, weights) / oracle
            rows.append(row)
            print(row, flush=True)
    grids = list(CANDIDATES)
    worst = {g: max(r[g] for r in rows) for g in grids}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "count_prior.json").write_text(json.dumps({"rows": rows, "worst": worst}, indent=1))
    lines = ["# CountTest grid choice (median events / oracle SPRT, event by event)", "",
             "| share | r | oracle | " + " | ".join(grids) + " |",
             "|---|---|---|" + "---|" * len(grids)]
    for r in rows:
        lines.append(f"| {r['share']} | {r['ratio']} | {r['oracle']:.0f} | "
                     + " | ".join(f"{r[g]:.2f}" for g in grids) + " |")
    lines.append("| | | worst | " + " | ".join(f"{worst[g]:.2f}" for g in grids) + " |")
    (RESULTS / "count_prior.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
