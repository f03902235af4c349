"""CLI: ``devenv read-configuration`` — the reference tool's command, same flags, same JSON on stdout."""

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer


_BOOL_FLAGS = {
    "--include-merged-configuration": "include_merged_configuration",
    "--include-features-configuration": "include_features_configuration",
    "--mount-workspace-git-root": "mount_workspace_git_root",
    "--mount-git-worktree-common-dir": "mount_git_worktree_common_dir",
}
_VALUE_FLAGS = {
    "--workspace-folder": "workspace_folder",
    "--config": "config",
    "--override-config": "override_config",
    "--container-id": "container_id",
    "--additional-features": "additional_features",
    "--runtime": "runtime",
    "--log-format": "log_format",
}
_LIST_FLAGS = {"--id-label": "id_labels"}
_IGNORED_VALUE_FLAGS = {
    "--log-level",
    "--user-data-folder",
    "--docker-path",
    "--docker-compose-path",
    "--terminal-columns",
    "--terminal-rows",
}


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
        elif name in ("--no-mount-workspace-git-root", "--no-mount-git-worktree-common-dir") and not eq:
            values[_BOOL_FLAGS["--" + name[len("--no-") :]]] = False
        elif name in _VALUE_FLAGS or name in _LIST_FLAGS or name in _IGNORED_VALUE_FLAGS:
            if not eq and not args:
                return None
            value = inline if eq else args.pop(0)
            if name in _LIST_FLAGS:
                values[_LIST_FLAGS[name]] = [*values.get(_LIST_FLAGS[name], ()), value]  # type: ignore[misc]
            elif name in _VALUE_FLAGS:
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
    override_config: str | None = None,
    id_labels: list[str] | None = None,
    container_id: str | None = None,
    additional_features: str | None = None,
    mount_git_worktree_common_dir: bool = False,
    runtime: str | None = None,
) -> None:
    from devenv import api
    from devenv.cli import output
    from devenv.config import jsonout
    from devenv.config.readconf import ReadConfigurationOptions, parse_additional_features

    result = api.read_configuration(
        ReadConfigurationOptions(
            workspace_folder=workspace_folder,
            config=config,
            include_merged_configuration=include_merged_configuration,
            include_features_configuration=include_features_configuration,
            mount_workspace_git_root=mount_workspace_git_root,
            override_config=override_config,
            id_labels=tuple(id_labels or ()),
            container_id=container_id,
            additional_features=parse_additional_features(additional_features) if additional_features else None,
            mount_git_worktree_common_dir=mount_git_worktree_common_dir,
            runtime=runtime,
        ),
        reporter=output.reporter() if include_merged_configuration else None,
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
        override_config: Annotated[
            str | None,
            typer.Option(
                "--override-config",
                help="Read this devcontainer.json instead of the workspace's (which need not exist).",
            ),
        ] = None,
        id_label: Annotated[
            list[str] | None,
            typer.Option(
                "--id-label",
                help="name=value label(s) identifying the workspace's container (default: from the folder).",
            ),
        ] = None,
        container_id: Annotated[
            str | None,
            typer.Option("--container-id", help="The workspace's container (default: found by its id labels)."),
        ] = None,
        additional_features: Annotated[
            str | None,
            typer.Option("--additional-features", help='More features, JSON like "features".'),
        ] = None,
        mount_git_worktree_common_dir: Annotated[
            bool,
            typer.Option(
                "--mount-git-worktree-common-dir/--no-mount-git-worktree-common-dir",
                help="For a git worktree made with relative paths: also mount the repository's common .git folder.",
            ),
        ] = False,
        runtime: Annotated[
            str | None,
            typer.Option(
                "--runtime",
                help="Where to look for the container and images: embedded or docker "
                "(default: the workspace's, else DEVENV_RUNTIME, else embedded).",
            ),
        ] = None,
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
            override_config,
            id_label,
            container_id,
            additional_features,
            mount_git_worktree_common_dir,
            runtime,
        )

    app.command(
        "read-configuration",
        help="Print the devcontainer.json of a workspace as JSON, after variable substitution "
        "(the same shape as the reference `devcontainer read-configuration`).",
    )(read_configuration_command)
