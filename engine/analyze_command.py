"""``auspice analyze`` and ``auspice backtest``: a template against a real Prometheus/Thanos.

Both run :class:`~auspice.analysis.Analysis`, the code path the service uses: ``analyze``
prints the verdict at the end of the window, ``backtest`` replays the window look by look
and shows when the verdict would have fired and how the evidence grew, so tolerance and
alpha can be tuned on past releases before a template is trusted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from auspice import analyses
from auspice.analysis import Analysis, FailedLook, analysis_from, summarize
from auspice.errors import ConfigError
from auspice.metrics.prometheus import PrometheusSource
from auspice.report import evidence_chart, verdict_text
from auspice.specs import AnalysisTemplate, load_template
from auspice.stats import Decision, Verdict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", required=True,
                        help="a template file, or the name of a library template "
                        f"({', '.join(analyses.names())})")
    parser.add_argument("--prometheus", required=True, metavar="URL",
                        help="Prometheus or Thanos querier base URL")
    parser.add_argument("--canary", action="append", default=[], metavar="KEY=VALUE",
                        help="canary scope (version, workload, namespace, cluster); repeat "
                        "or separate with commas")
    parser.add_argument("--baseline", action="append", default=[], metavar="KEY=VALUE",
                        help="baseline scope, like --canary")
    parser.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                        help="a template argument")
    parser.add_argument("--start", required=True,
                        help="canary start: RFC 3339 (UTC when no offset) or epoch seconds")
    parser.add_argument("--end", help="end of the window (default: now; at most the "
                        "template's maxDuration after --start)")
    parser.add_argument("--bearer-token-file", type=Path)
    parser.add_argument("--header", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def pairs(items: list[str], what: str) -> dict[str, str]:
    """``["a=1,b=2", "c=3"]`` -> mapping; a malformed item is a usage error naming it."""
    out = {}
    for item in items:
        for part in filter(None, item.split(",")):
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"{what} {part!r} is not KEY=VALUE")
            out[key.strip()] = value
    return out


def parse_time(text: str, option: str) -> float:
    """Epoch seconds or RFC 3339; a time without an offset is UTC, never local time."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise ConfigError(f"{option} {text!r} is neither epoch seconds nor RFC 3339",
                          hint="e.g. 2026-01-01T00:30:00Z or 1767227400") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def resolve_template(name: str) -> AnalysisTemplate:
    path = Path(name)
    if path.exists():
        return load_template(path)
    if name in analyses.names():
        return analyses.load(name)
    raise ConfigError(f"template {name!r} is neither a file nor a library template",
                      hint=f"library templates: {', '.join(analyses.names())}")


def _analysis(args: argparse.Namespace) -> tuple[Analysis, float]:
    template = resolve_template(args.template)
    start = parse_time(args.start, "--start")
    end = parse_time(args.end, "--end") if args.end else time.time()
    if end <= start:
        raise ConfigError(f"--end ({end}) is not after --start ({start})")
    # The verdict is final at the maximum duration: looking further only costs time.
    end = min(end, start + template.spec.max_duration)
    analysis = analysis_from(template, canary=pairs(args.canary, "--canary"),
                             baseline=pairs(args.baseline, "--baseline"), start=start,
                             args=pairs(args.arg, "--arg"))
    return analysis, end


def _source(args: argparse.Namespace) -> PrometheusSource:
    return PrometheusSource(args.prometheus, timeout=args.timeout,
                            headers=pairs(args.header, "--header"),
                            bearer_token_file=args.bearer_token_file)


async def _replay(args: argparse.Namespace) -> list[Verdict | FailedLook]:
    analysis, end = _analysis(args)
    async with _source(args) as source:
        return await analysis.replay(source, end)


def _exit_status(verdict: Verdict | FailedLook | None) -> int:
    """0 only for PASS: a failed verdict, a failed look or an unfinished one is not success."""
    return 0 if verdict is not None and verdict.decision is Decision.PASS else 1


def run_analyze(args: argparse.Namespace) -> int:
    history = asyncio.run(_replay(args))
    final = _decisive(history)
    if args.json:
        print(json.dumps(final.to_dict() if final else {"verdict": "continue",
                                                       "reason": "no complete look"}))
    else:
        print(verdict_text(final) if final else "no complete look in the window")
    return _exit_status(final)


def _decisive(history: list[Verdict | FailedLook]) -> Verdict | FailedLook | None:
    """The first PASS or FAIL (where the analysis would have stopped), else the last look."""
    for verdict in history:
        if verdict.decision in (Decision.PASS, Decision.FAIL, Decision.ERROR):
            return verdict
    return history[-1] if history else None


def run_backtest(args: argparse.Namespace) -> int:
    history = asyncio.run(_replay(args))
    if args.json:
        print(json.dumps({"summary": summarize(history),
                          "looks": [v.to_dict() for v in history]}))
    else:
        print(evidence_chart(history))
    final = _decisive(history)
    if final is not None and not args.json:
        print(verdict_text(final), file=sys.stdout)
    return _exit_status(final)
