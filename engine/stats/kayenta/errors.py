"""Errors of the Kayenta-compatible judge.

Kayenta's classifier turns any failure of the rank test into an ``Error`` classification
instead of letting it escape.  The low-level functions here (``mann_whitney``,
``wilcoxon_diff``) raise :class:`KayentaInputError` instead, so that a caller who uses them
directly learns *why* there is no interval; :func:`auspice.stats.kayenta.classify` catches
it and reports ``Error`` with that message as the reason.
"""

from __future__ import annotations

from auspice.errors import InputError


class KayentaInputError(InputError):
    """The samples cannot give a Mann-Whitney interval (empty, non-finite, all tied...)."""
