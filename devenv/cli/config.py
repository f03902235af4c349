"""CLI: ``devenv read-configuration`` — the reference tool's command, same flags, same JSON on stdout."""

from __future__ import annotations

import sys
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "read-configuration",
        help="Print the devcontainer.json of a workspace as JSON, after variable substitution "
        "(the same shape as the reference `devcontainer read-configuration`).",
    )(read_configuration_command)


def read_configuration_command(
    workspace_folder: Annotated[
        str | None,
        typer.Option(
            "--workspace-folder",
            help="Workspace folder; devcontainer.json is looked up in it. Default: the current directory.",
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option("--config", help="devcontainer.json path (default: found in the workspace folder)."),
    ] = None,
    include_merged_configuration: Annotated[
        bool,
        typer.Option(
            "--include-merged-configuration",
            help="Also print the configuration merged with image and feature metadata.",
        ),
    ] = False,
    include_features_configuration: Annotated[
        bool,
        typer.Option("--include-features-configuration", help="Also print the resolved features."),
    ] = False,
    mount_workspace_git_root: Annotated[
        bool,
        typer.Option(
            "--mount-workspace-git-root/--no-mount-workspace-git-root",
            help="Mount the workspace's git repository root (default), not just the folder.",
        ),
    ] = True,
    log_format: Annotated[str | None, typer.Option("--log-format", help="text or json (progress on stderr).")] = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", help="Accepted for compatibility (info, debug, trace).")
    ] = None,
) -> None:
    from devenv import api
    from devenv.cli import output
    from devenv.config import jsonout
    from devenv.config.readconf import ReadConfigurationOptions

    output.set_log_format(log_format)
    result = api.read_configuration(
        ReadConfigurationOptions(
            workspace_folder=workspace_folder,
            config=config,
            include_merged_configuration=include_merged_configuration,
            include_features_configuration=include_features_configuration,
            mount_workspace_git_root=mount_workspace_git_root,
        )
    )
    for warning in result.warnings:
        output.warn(str(warning))
    sys.stdout.write(jsonout.dumps(result.output) + "\n")
    sys.stdout.flush()
