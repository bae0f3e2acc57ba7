"""Placeholder: routes being written (see the webhooks issue)."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """Mount this module's routes on ``app``."""
