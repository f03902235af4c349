"""Parsing of command-line values shared by ``up``, ``exec`` and ``run-user-commands`` (kept import-light)."""

from __future__ import annotations

TYPE_CHECKING = False  # (typing is not imported at run time: up's and exec's fast paths)
if TYPE_CHECKING:
    from typing import Any


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


def configurations(opts: Any, result: Any, configuration: bool, merged: bool) -> dict[str, Any]:
    """``up --include-configuration`` / ``--include-merged-configuration``: what the reference adds to
    its result — devcontainer.json after substitution (``${containerEnv:...}`` of the container too) and
    the merged configuration of the container's metadata and devcontainer.json, as ``read-configuration``
    prints them for that container."""
    import os

    from devenv import api
    from devenv.config.readconf import ReadConfigurationOptions

    folder = opts.workspace_folder
    if folder is None and opts.config is None and opts.override_config is None:
        folder = os.getcwd()  # (where `up` read devcontainer.json from, --id-label or not)
    read = api.read_configuration(
        ReadConfigurationOptions(
            workspace_folder=folder,
            config=opts.config,
            include_merged_configuration=merged,
            mount_workspace_git_root=opts.mount_workspace_git_root,
            override_config=opts.override_config,
            id_labels=tuple(opts.id_labels),
            container_id=result.container_id,
            runtime=result.runtime or opts.runtime,
        )
    )
    out: dict[str, Any] = {}
    if configuration:
        out["configuration"] = read.output.get("configuration")
    if merged:
        out["mergedConfiguration"] = read.output.get("mergedConfiguration")
    return out
