"""The exit statuses of every ``auspice`` command, one meaning each (docs/cli.md).

A script (a pipeline step, a responder's one-liner) must tell a failed canary from a
metrics outage from a typo without parsing text, so each outcome has its own status and
every command uses this table rather than numbers of its own.
"""

from __future__ import annotations

import enum

__all__ = ["Exit"]


class Exit(enum.IntEnum):
    OK = 0  # success: the verdict is PASS, the action is done, the documents are valid
    FAIL = 1  # the verdict is FAIL; an action refused or left unfinished; invalid documents
    USAGE = 2  # bad input: argparse's usage errors, an unreadable file, an impossible option
    INCONCLUSIVE = 3  # the maximum duration passed with neither side decided: a person decides
    UNDECIDED = 4  # the window ended before any verdict (the analysis would continue)
    NO_DATA = 5  # the canary or baseline had no data to judge
    SOURCE_ERROR = 6  # the metrics source could not answer (down, timeout, partial data)
    INTERRUPTED = 130  # Ctrl-C
