"""``auspice analyze`` and ``auspice backtest``: a template against a real Prometheus/Thanos.

Both run :class:`~auspice.analysis.Analysis`, the code path the service uses: ``analyze``
prints the verdict at the end of the window, ``backtest`` replays the window look by look
and shows when the verdict would have fired and how the evidence grew, so tolerance and
alpha can be tuned on past releases before a template is trusted.

The metrics source is configured with the same model as ``auspice serve``'s
``prometheus:`` section (:class:`auspice.specs.serve.PrometheusConfig`): each source
option here is one of its fields, so the CLI and the service reach Thanos the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from auspice.analysis import Analysis, FailedLook, analysis_from, summarize
from auspice.analysis.report import evidence_chart, verdict_text
from auspice.errors import ConfigError, one_line
from auspice.metrics.prometheus import PrometheusSource
from auspice.specs import AnalysisTemplate, format_duration, library, load_template
from auspice.specs.serve import PrometheusConfig
from auspice.stats import Decision, Verdict

#: The CLI's retries of a 5xx or a dropped connection (the service's default is 1: it
#: looks again a minute later anyway; a one-off command has no next look).
CLI_RETRIES = 3


def add_parser(commands: argparse._SubParsersAction, name: str) -> None:
    """``analyze`` or ``backtest``: the same options, a different report."""
    if name == "analyze":
        parser = commands.add_parser(
            name, help="judge a canary against its baseline over a window",
            description="One judgement of a template for a canary and a baseline over a "
            "time window, against a Prometheus/Thanos URL: the verdict where the analysis "
            "would have stopped, with a table of metrics (effect and interval, e-value, "
            "counts). Exit 0 only for PASS.")
        parser.set_defaults(handler=run_analyze)
    else:
        parser = commands.add_parser(
            name, help="replay a past window look by look and show when the verdict fired",
            description="Replay a template over a past canary window look by look, as the "
            "service would have, and chart how the evidence grew and at which look the "
            "verdict fired.")
        parser.set_defaults(handler=run_backtest)
    add_arguments(parser)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--template", required=True,
                        help="a template file, or the name of a library template "
                        f"({', '.join(library.names())})")
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
    source = parser.add_argument_group(
        "metrics source", "the keys of auspice serve's prometheus: section, as options")
    source.add_argument("--bearer-token-file", type=Path, metavar="FILE",
                        help="send the file's content as a bearer token (re-read each request)")
    source.add_argument("--header", action="append", default=[], metavar="NAME=VALUE",
                        help="an HTTP header for every request, e.g. X-Scope-OrgID=team-a")
    source.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    source.add_argument("--ca-file", type=Path, metavar="FILE",
                        help="PEM CA bundle to verify the server's certificate with")
    source.add_argument("--client-cert", type=Path, metavar="FILE",
                        help="PEM client certificate (mutual TLS)")
    source.add_argument("--client-key", type=Path, metavar="FILE",
                        help="PEM key of --client-cert (when not in the same file)")
    source.add_argument("--insecure-skip-verify", action="store_true",
                        help="do not verify the server's certificate (unsafe: anyone "
                        "on the path could answer for Thanos)")
    source.add_argument("--replica-label", action="append", default=[], metavar="LABEL",
                        help="Thanos replicaLabels[] to deduplicate by; repeat for several")
    source.add_argument("--dedup", action=argparse.BooleanOptionalAction, default=True,
                        help="Thanos dedup (default: on)")
    source.add_argument("--partial-response", action="store_true",
                        help="accept Thanos partial responses (default: a missing store "
                        "fails the look)")
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
    if name in library.names():
        return library.load(name)
    raise ConfigError(f"template {name!r} is neither a file nor a library template",
                      hint=f"library templates: {', '.join(library.names())}")


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


def source_config(args: argparse.Namespace) -> PrometheusConfig:
    """The source options as ``auspice serve`` would read them from its config file."""
    if not (math.isfinite(args.timeout) and args.timeout >= 0.001):
        raise ConfigError(f"--timeout {args.timeout:g}: give a finite number of seconds, "
                          "at least 0.001", hint="e.g. --timeout 30")
    data: dict[str, object] = {
        "url": args.prometheus,
        "timeout": format_duration(args.timeout),
        "headers": pairs(args.header, "--header"),
        "insecureSkipVerify": args.insecure_skip_verify,
        "partialResponse": args.partial_response,
        "dedup": args.dedup,
        "replicaLabels": list(args.replica_label),
        "retries": CLI_RETRIES,
    }
    for key, value in (("bearerTokenFile", args.bearer_token_file), ("caFile", args.ca_file),
                       ("clientCert", args.client_cert), ("clientKey", args.client_key)):
        if value is not None:
            data[key] = str(value)
    try:
        return PrometheusConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"invalid metrics source options: {one_line(error)}") from None


def _source(args: argparse.Namespace) -> PrometheusSource:
    return PrometheusSource.from_config(source_config(args))


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
