"""Parsing of command-line values shared by ``up``, ``exec`` and ``run-user-commands`` (kept import-light)."""

from __future__ import annotations

from devenv.errors import UsageError


def parse_remote_env(items: tuple[str, ...]) -> dict[str, str]:
    """``--remote-env name=value`` arguments (the reference's format and error)."""
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--remote-env {item!r}: remote-env must match <name>=<value>")
        env[key] = value
    return env
