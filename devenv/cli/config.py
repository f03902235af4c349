"""CLI: ``devenv read-configuration`` — the reference tool's command, same flags, same JSON on stdout."""

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer


_BOOL_FLAGS = {
    "--include-merged-configuration": "include_merged_configuration",
    "--include-features-configuration": "include_features_configuration",
    "--mount-workspace-git-root": "mount_workspace_git_root",
}
_VALUE_FLAGS = {"--workspace-folder": "workspace_folder", "--config": "config", "--log-format": "log_format"}
_IGNORED_VALUE_FLAGS = {"--log-level", "--user-data-folder", "--docker-path", "--docker-compose-path"}


def fast_main(argv: list[str]) -> int | None:
    """``devenv read-configuration ...`` without importing typer (start-up time is most of its cost).

    Returns None for anything it does not parse itself (``--help``, unknown flags): typer handles those.
    """
    values: dict[str, object] = {"mount_workspace_git_root": True}
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, inline = arg.partition("=")
        if name in _BOOL_FLAGS:
            text = inline if eq else ("true" if not args or args[0].startswith("--") else args.pop(0))
            if text not in ("true", "false"):
                return None
            values[_BOOL_FLAGS[name]] = text == "true"
        elif name == "--no-mount-workspace-git-root" and not eq:
            values["mount_workspace_git_root"] = False
        elif name in _VALUE_FLAGS or name in _IGNORED_VALUE_FLAGS:
            if not eq and not args:
                return None
            value = inline if eq else args.pop(0)
            if name in _VALUE_FLAGS:
                values[_VALUE_FLAGS[name]] = value
        else:
            return None
    from devenv.cli import main, output
    from devenv.errors import DevenvError

    try:
        output.set_log_format(values.pop("log_format", None))  # type: ignore[arg-type]
        _run(**values)  # type: ignore[arg-type]
    except DevenvError as exc:
        return main._report(exc, exc.exit_code, exc.message, exc.render())
    except KeyboardInterrupt as exc:
        return main._report(exc, 130, "interrupted")
    return 0


def _run(
    workspace_folder: str | None = None,
    config: str | None = None,
    include_merged_configuration: bool = False,
    include_features_configuration: bool = False,
    mount_workspace_git_root: bool = True,
) -> None:
    from devenv import api
    from devenv.cli import output
    from devenv.config import jsonout
    from devenv.config.readconf import ReadConfigurationOptions

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


def register(app: "typer.Typer") -> None:
    # Annotations are evaluated here (no postponed annotations in this module), so typer is only
    # imported when the typer app is built, never on the fast path.
    from typing import Annotated

    import typer

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
        log_format: Annotated[
            str | None, typer.Option("--log-format", help="text or json (progress on stderr).")
        ] = None,
        log_level: Annotated[
            str | None, typer.Option("--log-level", help="Accepted for compatibility (info, debug, trace).")
        ] = None,
    ) -> None:
        from devenv.cli import output

        output.set_log_format(log_format)
        _run(
            workspace_folder,
            config,
            include_merged_configuration,
            include_features_configuration,
            mount_workspace_git_root,
        )

    app.command(
        "read-configuration",
        help="Print the devcontainer.json of a workspace as JSON, after variable substitution "
        "(the same shape as the reference `devcontainer read-configuration`).",
    )(read_configuration_command)
