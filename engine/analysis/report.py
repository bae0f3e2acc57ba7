"""Verdicts for people: the metric table of ``auspice analyze`` and the evidence chart of
``auspice backtest``. Machines get ``Verdict.to_dict()`` instead (``--json``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from auspice.analysis import FailedLook
from auspice.stats import Decision, Verdict

_BARS = " ▁▂▃▄▅▆▇"


def _num(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.3g}"


def metric_table(verdict: Verdict) -> str:
    """One row per metric: verdict part, effect with interval, e-value, counts."""
    rows = [("metric", "kind", "state", "effect [interval]", "e-value / threshold", "counts")]
    for m in verdict.metrics:
        r = m.result
        state = "REJECTED" if r.rejected else ("no data" if r.status != "ok" else "ok")
        counts = ", ".join(f"{k}={_num(float(v))}" for k, v in _shown_counts(r.counts))
        rows.append((m.policy.name + ("" if m.policy.critical else " (non-critical)"), m.kind,
                     state, f"{_num(r.estimate)} [{_num(r.lower)}, {_num(r.upper)}]",
                     f"{_num(r.e_value)} / {_num(1 / m.alpha)}", counts))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in rows]
    return "\n".join(lines)


def _shown_counts(counts: dict) -> list[tuple[str, float]]:
    """The numbers behind a result; for histograms only those at the worst boundary."""
    worst = counts.get("worst_boundary")
    suffix = f"_at_{worst:g}" if isinstance(worst, int | float) else None
    return [(k.removesuffix(suffix) if suffix else k, v) for k, v in counts.items()
            if isinstance(v, int | float) and not k.startswith("looks_")
            and ("_at_" not in k or (suffix is not None and k.endswith(suffix)))]


def verdict_text(verdict: Verdict | FailedLook) -> str:
    head = (f"verdict: {verdict.decision.value.upper()} after {verdict.elapsed / 60:.0f} min "
            f"- {verdict.reason}")
    if isinstance(verdict, FailedLook):
        return head
    return head + "\n" + metric_table(verdict)


def evidence_chart(history: Sequence[Verdict | FailedLook], *, width: int = 72) -> str:
    """Per metric, log E over the looks as a bar row scaled to its threshold (█ = crossed)."""
    judged = [v for v in history if isinstance(v, Verdict)]
    if not judged:
        return "no judged looks"
    fired = next((k for k, v in enumerate(history, 1)
                  if v.decision in (Decision.PASS, Decision.FAIL)), None)
    stride = max(1, math.ceil(len(history) / width))
    lines = [f"looks 1..{len(history)}, one column per {stride} look(s); "
             f"bar height = log E / log threshold"]
    for i, m in enumerate(judged[0].metrics):
        cells = []
        for start in range(0, len(history), stride):
            chunk = [v for v in history[start:start + stride] if isinstance(v, Verdict)]
            cells.append(_bar(chunk, i))
        lines.append(f"{m.policy.name:>20} |{''.join(cells)}|")
    marks = [" "] * math.ceil(len(history) / stride)
    if fired is not None:
        marks[(fired - 1) // stride] = "^"
        lines.append(f"{'':>20}  {''.join(marks)}")
        v = history[fired - 1]
        lines.append(f"{v.decision.value.upper()} at look {fired} "
                     f"({v.elapsed / 60:.0f} min): {v.reason}")
    else:
        lines.append(f"no PASS or FAIL within the window; last: {history[-1].decision.value}")
    return "\n".join(lines)


def _bar(chunk: Sequence[Verdict], metric: int) -> str:
    if not chunk:
        return "?"
    evidence = chunk[-1].metrics[metric]
    if evidence.result.rejected:
        return "█"
    e = evidence.result.e_value
    if not (isinstance(e, float) and e > 0 and math.isfinite(e)):
        return "·"
    level = math.log(max(e, 1.0)) / math.log(1 / evidence.alpha)
    return _BARS[min(len(_BARS) - 1, int(level * (len(_BARS) - 1)))]
