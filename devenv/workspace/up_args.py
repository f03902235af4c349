"""Parsing of command-line values shared by ``up``, ``exec`` and ``run-user-commands`` (kept import-light)."""

from __future__ import annotations


def parse_remote_env(items: tuple[str, ...]) -> dict[str, str]:
    """``--remote-env name=value`` arguments (the reference's format and error)."""
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            from devenv.errors import UsageError

            raise UsageError(f"--remote-env {item!r}: remote-env must match <name>=<value>")
        env[key] = value
    return env


def print_result(obj: object) -> None:
    """A command's result object on stdout as the reference prints it: one line of compact JSON."""
    import json
    import sys

    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def up_result(container_id: str, remote_user: str, remote_workspace_folder: str) -> dict[str, str]:
    return {
        "outcome": "success",
        "containerId": container_id,
        "remoteUser": remote_user,
        "remoteWorkspaceFolder": remote_workspace_folder,
    }
