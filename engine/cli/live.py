"""A rollout as a person watches it: scrolling lines and a status block kept in place.

:class:`LiveView` is a rollout listener: it turns every recorded entry into a line worth
reading (waves, weights, verdicts that changed, rollback, revert) and keeps a status
block of the rollout's state, its progress against the plan's time, and per cluster its
weight, step and latest evidence. :func:`make_screen` chooses how it is shown: on a
terminal the block is redrawn in place under the scrolling lines; anywhere else (pipes,
CI logs) only plain lines, every look included, and no escape codes; JSON lines (one
object per entry) are for programs.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from auspice.clock import Clock
from auspice.specs.plan import RolloutPlan, planned_seconds

__all__ = ["LiveScreen", "LiveView", "Screen", "make_screen"]

class Screen:
    """Scrolling lines only: what pipes and CI logs get, with no escape codes.

    A reader that goes away (``auspice demo | head``) ends the output quietly: the
    orchestrator logs a listener's exception on every event, and one traceback per
    event would bury the only thing that happened (the reader had seen enough).
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.closed = False

    def line(self, text: str) -> None:
        self._write(text + "\n")

    def event(self, text: str | None, *, routine: bool, block: Sequence[str]) -> None:
        """One recorded event: every described line scrolls, the block is for terminals."""
        if text is not None:
            self.line(text)

    def keep_block(self) -> None:
        """Leave the last status block where it is (a plain screen has none)."""

    def _write(self, text: str) -> None:
        if self.closed:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            self.closed = True
            with contextlib.suppress(OSError, ValueError):  # so the exit's flush is quiet
                os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())


class LiveScreen(Screen):
    """A terminal: scrolling lines above a status block that is redrawn in place.

    A look whose verdict did not change only updates the block, so the scrollback keeps
    the story (waves, weights, verdict changes, rollback, revert) and the block the
    latest numbers. Redrawing uses two sequences every terminal emulator knows: go to
    the start of the line N rows up (CSI N F) and erase to the end of the screen
    (CSI J). Block lines are cut to the terminal's width: a wrapped line would make N
    wrong and leave copies of the block in the scrollback.
    """

    def __init__(self, stream: TextIO, *, width: int | None = None) -> None:
        super().__init__(stream)
        self.width = width or _columns(stream)
        self.drawn = 0  # rows of the block now on the screen, above the cursor

    def line(self, text: str) -> None:
        self._redraw(text, [])

    def event(self, text: str | None, *, routine: bool, block: Sequence[str]) -> None:
        self._redraw(None if routine else text, block)

    def keep_block(self) -> None:
        self.drawn = 0

    def _redraw(self, text: str | None, block: Sequence[str]) -> None:
        erase = f"\x1b[{self.drawn}F\x1b[J" if self.drawn else ""
        scrolled = "" if text is None else text + "\n"
        rows = [row[: self.width - 1] for row in block]
        self._write(erase + scrolled + "".join(row + "\n" for row in rows))
        self.drawn = len(rows)


def _columns(stream: TextIO) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):  # not a file descriptor (tests, wrappers)
        columns = 0
    return columns if columns > 0 else 80  # a new pty reports 0 columns until resized


def make_screen(stream: TextIO, *, json_lines: bool) -> Screen:
    """A live screen only for a person at a terminal: JSON lines are for programs, and a
    ``TERM=dumb`` terminal (editor shells, some CI runners) cannot move the cursor."""
    isatty = getattr(stream, "isatty", None)
    live = (not json_lines and callable(isatty) and isatty()
            and os.environ.get("TERM") != "dumb")
    return LiveScreen(stream) if live else Screen(stream)


@dataclass
class ClusterView:
    """One cluster as the status block shows it."""

    wave: int
    weight: int = 0
    status: str = "waiting"
    verdict: str | None = None  # of the last look
    evidence: str = ""  # the last look's verdict and e-value, short


@dataclass
class LiveView:
    """Turns what the orchestrator records into scrolling lines and a status block."""

    screen: Screen
    clock: Clock
    plan: RolloutPlan
    members: Mapping[str, int]  # cluster -> index of its wave
    origin: float  # the time minute 0 stands for
    json_lines: bool = False
    state: str = "pending"
    wave: int = 0
    rows: dict[str, ClusterView] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = {name: ClusterView(wave=wave) for name, wave in self.members.items()}
        self.planned = planned_seconds(self.plan, self.members)

    def minutes(self) -> float:
        return (self.clock.now() - self.origin) / 60

    def __call__(self, rollout: str, n: int, what: str, details: Mapping[str, Any]) -> None:
        if self.json_lines:
            self.screen.line(json.dumps({"rollout": rollout, "n": n,
                                         "minute": round(self.minutes(), 2), "what": what,
                                         "details": details}, default=str))
            return
        routine = (what == "look"
                   and self.rows[details["cluster"]].verdict == details["verdict"])
        text = self._describe(what, details)
        self.screen.event(None if text is None else f"  {self.minutes():5.1f}m  {text}",
                          routine=routine, block=self.block())

    def block(self) -> list[str]:
        """The status block: state, wave and progress, then one row per cluster."""
        waves = self.plan.spec.waves
        share = min(1.0, self.minutes() * 60 / self.planned) if self.planned else 1.0
        filled = round(share * 30)
        lines = [f"  {self.state.upper()}, wave {self.wave + 1}/{len(waves)} "
                 f"'{waves[self.wave].name}'",
                 f"  [{'#' * filled}{'.' * (30 - filled)}] {self.minutes():.0f} of "
                 f"{self.planned / 60:.0f} planned minutes"]
        for name, row in self.rows.items():
            bar = "#" * (row.weight // 10)
            lines.append(f"    {name:<13} [{bar:.<10}] {row.weight:3d}%  {row.status:<12}"
                         f"{row.evidence}")
        return lines

    def _bar(self) -> str:
        return "  ".join(f"{name} {row.weight:3d}%" for name, row in self.rows.items())

    def _describe(self, what: str, d: Mapping[str, Any]) -> str | None:
        """The scrolling line of an event (None: not worth a line), updating the rows."""
        if what == "wave.started":
            self.wave = d["wave"]
            return f"== wave {d['wave'] + 1} '{d['name']}': {', '.join(d['clusters'])}"
        if what == "weights.set":
            steps = len(self.plan.spec.waves[d["wave"]].steps)
            self._set(d["cluster"], weight=d["weight"], status=f"step {d['step'] + 1}/{steps}")
            return f"{d['cluster']:<13} canary -> {d['weight']:3d}%   [{self._bar()}]"
        if what == "look":
            self._set(d["cluster"], verdict=d["verdict"], evidence=_short_evidence(d))
            return f"{d['cluster']:<13} look at {d['weight']:3d}%: {_evidence(d)}"
        if what in ("rollback", "rollback.retry"):
            for cluster, result in d["clusters"].items():
                if result["status"] != "failed":
                    self._set(cluster, weight=0, status="rolled back")
            return (f"ROLLBACK canary -> 0% in {', '.join(d['clusters'])} at once "
                    f"({len(d['unreachable'])} unreachable)   [{self._bar()}]")
        if what == "cluster.failed":
            self._set(d["cluster"], status="FAILED")
            return f"{d['cluster']:<13} FAILED: {d['reason']}"
        if what == "cluster.done":
            self._set(d["cluster"], status="promoted")
            return f"{d['cluster']:<13} promoted"
        if what == "rollout.approved":
            self.state = d.get("state", self.state)  # no state.* entry follows an approval
            return f"approval for wave {d['wave'] + 1} given"
        if what == "bake":
            return f"baking {d['remaining_seconds'] / 60:.0f}m before wave {d['wave'] + 1}"
        if what == "revert.started":
            return f"reverting release commit {d['commit'][:12]} (attempt {d['attempt']})"
        if what.startswith("state."):
            self.state = what.removeprefix("state.")
            return f"-> {self.state.upper()}"
        return None

    def _set(self, cluster: str, **changes: Any) -> None:
        row = self.rows[cluster]
        for name, value in changes.items():
            setattr(row, name, value)


def _numbers(d: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The metrics of a look that carry numbers (a 'no data' metric has none)."""
    return [metric for analysis in d.get("analyses", {}).values()
            for metric in analysis.get("metrics", [])
            if isinstance(metric.get("estimate"), int | float)
            and isinstance(metric.get("e_value"), int | float)]


def _evidence(d: Mapping[str, Any]) -> str:
    parts = [f"{m['name']} ratio {m['estimate']:.2f} (upper {m['upper']:.2f}), "
             f"e-value {m['e_value']:.2f}/{m['threshold']:.0f}" for m in _numbers(d)]
    return f"{d['verdict'].upper():8s} " + ("; ".join(parts) if parts else d.get("reason", ""))


def _short_evidence(d: Mapping[str, Any]) -> str:
    """The block's version: the verdict and the largest e-value against its threshold."""
    metrics = _numbers(d)
    if not metrics:
        return d["verdict"].upper()
    top = max(metrics, key=lambda m: m["e_value"] / m["threshold"])
    return f"{d['verdict'].upper():<8} e-value {top['e_value']:.2f}/{top['threshold']:.0f}"


