"""The common ground of every user-written document model.

Everything a user writes is strict (a quoted ``"0.05"`` is not a number, ``yes`` is not
``true``), refuses unknown keys (a typo must be an error, not a silently ignored field),
and is spelled in camelCase in YAML like Kubernetes and Argo objects, while Python code
uses the snake_case attribute names. Field checks raise :func:`reject` so that each
message comes with its fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, NoReturn

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


class UserModel(BaseModel):
    """Base of models filled from user YAML: strict, closed, camelCase, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=False,  # YAML keys are camelCase only, never snake_case too
        validate_by_alias=True,
    )


def reject(message: str, hint: str) -> NoReturn:
    """Fail a field check with ``message`` and the ``hint`` that says how to fix it."""
    raise PydanticCustomError("auspice", "{message}", {"message": message, "hint": hint})


def _pattern_check(pattern: str, what: str, hint: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            reject(f"{value!r} is not a valid {what}", hint)
        return value

    return AfterValidator(check)


def _range_check(
    *, low: float | None = None, high: float | None = None, inclusive: bool, what: str, hint: str
) -> AfterValidator:
    def check(value: Any) -> Any:
        too_low = low is not None and (value < low if inclusive else value <= low)
        too_high = high is not None and (value > high if inclusive else value >= high)
        if too_low or too_high:
            reject(f"{what} is {value!r}", hint)
        return value

    return AfterValidator(check)


def bounded(
    kind: type,
    *,
    low: float | None = None,
    high: float | None = None,
    inclusive: bool = True,
    what: str,
    hint: str,
) -> Any:
    """``Annotated[kind, ...]`` with a range check that explains itself."""
    return Annotated[
        kind, _range_check(low=low, high=high, inclusive=inclusive, what=what, hint=hint)
    ]


#: A file path, written as text in YAML.
FilePath = Annotated[Path, Field(strict=False)]

#: Kubernetes object name (DNS subdomain, RFC 1123).
ObjectName = Annotated[
    str,
    _pattern_check(
        r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?",
        "name",
        "use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
    ),
]

#: A metric's name: a DNS label, so it can appear in URLs, labels and file names.
MetricName = Annotated[
    str,
    _pattern_check(
        r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?",
        "metric name",
        "use lower-case letters, digits and '-' (at most 63), e.g. error-rate",
    ),
]

#: A placeholder/argument name: what may appear between ``{{`` and ``}}``.
Identifier = Annotated[
    str,
    _pattern_check(
        r"[A-Za-z_][A-Za-z0-9_]*",
        "argument name",
        "use letters, digits and '_' (not starting with a digit), e.g. versionLabel",
    ),
]
