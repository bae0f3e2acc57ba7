"""Durations as SREs write them (``30s``, ``1m``, ``1h30m``), held as seconds.

The grammar is PromQL's, so a template's ``interval`` can be put straight into a range
selector: whole numbers, units ``ms s m h d w`` from the largest to the smallest, each
at most once. A bare number is refused on purpose: ``interval: 60`` could mean seconds
or minutes, and a template is the wrong place for a guess. ``y`` is refused too, since a
"year" has no fixed length.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

__all__ = ["Duration", "DurationError", "format_duration", "parse_duration"]

_UNITS_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
_ORDER = list(_UNITS_MS)
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")
_EXAMPLES = "write it like 30s, 1m, 5m, 1h30m"


class DurationError(ValueError):
    """A duration string is malformed; the message says why."""


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (``"1h30m"`` -> 5400.0); raise :class:`DurationError`."""
    if not isinstance(text, str):
        raise DurationError(f"expected a duration such as 1m, got {type(text).__name__} {text!r}")
    position = 0
    total_ms = 0
    last_rank = -1
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        rank = _ORDER.index(match.group(2))
        if rank <= last_rank:
            raise DurationError(
                f"duration {text!r}: units must go from largest to smallest, each once"
            )
        last_rank = rank
        total_ms += int(match.group(1)) * _UNITS_MS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise DurationError(f"{text!r} is not a duration")
    if total_ms <= 0:
        raise DurationError(f"duration {text!r} must be longer than zero")
    return total_ms / 1000


def format_duration(seconds: float) -> str:
    """The shortest PromQL duration for ``seconds`` (rounded to milliseconds): 90 -> ``1m30s``."""
    remaining = round(seconds * 1000)
    if remaining <= 0:
        raise DurationError(f"cannot write {seconds!r} seconds as a PromQL duration")
    parts: list[str] = []
    for unit in _ORDER:
        if unit == "w":
            continue  # "7d" reads better than "1w" in a query and parses the same
        count, remaining = divmod(remaining, _UNITS_MS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _validate(value: object) -> float:
    if isinstance(value, bool) or isinstance(value, int | float):
        raise PydanticCustomError(
            "auspice_duration",
            "{message}",
            {
                "message": f"a bare number ({value!r}) is not a duration: seconds or minutes?",
                "hint": f"add the unit; {_EXAMPLES}",
            },
        )
    try:
        return parse_duration(value)  # type: ignore[arg-type]
    except DurationError as error:
        raise PydanticCustomError(
            "auspice_duration", "{message}", {"message": str(error), "hint": _EXAMPLES}
        ) from None


#: A pydantic field type: a duration string in YAML, seconds (float) in Python.
Duration = Annotated[float, BeforeValidator(_validate)]
