"""Shared test support: fixtures and servers used by several test folders."""
