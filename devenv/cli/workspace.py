"""CLI: workspace commands — up, exec, shell, stop, down, rebuild, ls, logs, status, run-user-commands, set-up.

Flags are shaped like the reference CLI's (``devcontainer up --workspace-folder ...``); ``up`` prints the
reference's result object on stdout (``{"outcome": "success", "containerId", ...}``, or an error object
and a non-zero exit). ``exec`` normally never gets here: :mod:`devenv.cli.workspace_fast` runs it
without typer.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from devenv.cli import output
from devenv.workspace.up_args import print_result

FolderOpt = Annotated[
    str | None, typer.Option("--workspace-folder", help="The workspace folder (default: the current folder).")
]
ConfigOpt = Annotated[str | None, typer.Option("--config", help="devcontainer.json path (default: looked up).")]
IdLabelOpt = Annotated[
    list[str] | None, typer.Option("--id-label", help="name=value label identifying the container (repeatable).")
]
RuntimeOpt = Annotated[
    str | None,
    typer.Option("--runtime", help="embedded or docker (default: $DEVENV_RUNTIME, else embedded).", envvar=None),
]
LogFormatOpt = Annotated[str | None, typer.Option("--log-format", help="text or json.")]
RemoteEnvOpt = Annotated[
    list[str] | None, typer.Option("--remote-env", help="name=value added to the remote environment (repeatable).")
]


OverrideConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--override-config",
        help="devcontainer.json read instead of the workspace's (needed when the workspace has none).",
    ),
]
DefaultProbeOpt = Annotated[
    str,
    typer.Option(
        "--default-user-env-probe",
        help="userEnvProbe when devcontainer.json has none: none, loginShell, interactiveShell, loginInteractiveShell.",
    ),
]
SecretsFileOpt = Annotated[
    str | None,
    typer.Option(
        "--secrets-file",
        help="JSON file of secret environment variables (name: value) for the lifecycle commands and "
        "dotfiles; their values are masked in the output.",
    ),
]
DotfilesRepositoryOpt = Annotated[
    str | None,
    typer.Option(
        "--dotfiles-repository",
        help="Dotfiles git repository (URL, path, or owner/name on GitHub), installed once per container.",
    ),
]
DotfilesInstallCommandOpt = Annotated[
    str | None,
    typer.Option(
        "--dotfiles-install-command",
        help="Command run in the dotfiles clone (default: the first of install.sh, install, bootstrap.sh, "
        "bootstrap, script/bootstrap, setup.sh, setup, script/setup; with none, dotfiles are symlinked).",
    ),
]
DotfilesTargetPathOpt = Annotated[
    str, typer.Option("--dotfiles-target-path", help="Where the dotfiles repository is cloned.")
]
SkipPostAttachOpt = Annotated[bool, typer.Option("--skip-post-attach", help="Do not run postAttachCommand.")]
SkipNonBlockingOpt = Annotated[
    bool, typer.Option("--skip-non-blocking-commands", help="Stop after the waitFor command.")
]

_IGNORED = "Accepted for compatibility with devcontainers/cli; no effect in devenv."
# The reference's flags without a value that mean nothing to devenv: their declaration and default.
_IGNORED_FLAGS = {
    "--mount-workspace-git-root": ("--mount-workspace-git-root/--no-mount-workspace-git-root", True),
    "--mount-git-worktree-common-dir": ("--mount-git-worktree-common-dir", False),
    "--skip-feature-auto-mapping": ("--skip-feature-auto-mapping", False),
}
# The reference's options each command accepts and ignores (in the order of its --help).
_LOG_AND_TERMINAL = ("--log-level", "--terminal-columns", "--terminal-rows")
_DATA_FOLDERS = ("--user-data-folder", "--container-data-folder", "--container-system-data-folder")
_TOOL_PATHS = ("--docker-path", "--docker-compose-path")
_SESSION_FOLDER = "--container-session-data-folder"
IGNORED_BY_COMMAND: dict[str, tuple[str, ...]] = {
    "up": (*_LOG_AND_TERMINAL, "--buildkit", "--workspace-mount-consistency", *_DATA_FOLDERS, _SESSION_FOLDER,
           *_TOOL_PATHS, "--gpu-availability", "--skip-feature-auto-mapping"),
    "exec": (*_LOG_AND_TERMINAL, *_DATA_FOLDERS, *_TOOL_PATHS, "--mount-workspace-git-root",
             "--mount-git-worktree-common-dir"),
    "run-user-commands": (*_LOG_AND_TERMINAL, *_TOOL_PATHS, *_DATA_FOLDERS, _SESSION_FOLDER),
    "set-up": (*_LOG_AND_TERMINAL, *_TOOL_PATHS, *_DATA_FOLDERS, _SESSION_FOLDER),
}  # fmt: skip
_Command = TypeVar("_Command", bound=Callable[..., None])


def _ignored_parameter(flag: str) -> inspect.Parameter:
    if flag in _IGNORED_FLAGS:
        declaration, default = _IGNORED_FLAGS[flag]
        annotation: Any = Annotated[bool, typer.Option(declaration, help=_IGNORED, show_default=False)]
    else:
        annotation, default = Annotated[str | None, typer.Option(flag, help=_IGNORED, show_default=False)], None
    name = flag.removeprefix("--").replace("-", "_")
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def accepts_ignored(command_name: str) -> Callable[[_Command], _Command]:
    """Give a command the reference's options of ``IGNORED_BY_COMMAND[command_name]``, after its own.

    Typer reads the added parameters from the signature (so they are parsed and listed in --help);
    their values are dropped before the command runs.
    """
    extra = [_ignored_parameter(flag) for flag in IGNORED_BY_COMMAND[command_name]]
    dropped = {parameter.name for parameter in extra}

    def decorate(command: _Command) -> _Command:
        own = inspect.signature(command, eval_str=True)

        @functools.wraps(command)
        def with_ignored(*args: Any, **kwargs: Any) -> None:
            command(*args, **{name: value for name, value in kwargs.items() if name not in dropped})

        with_ignored.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[*own.parameters.values(), *extra]
        )
        return with_ignored  # type: ignore[return-value]

    return decorate


PROBES = ("none", "loginShell", "interactiveShell", "loginInteractiveShell")


def _check_probe(value: str) -> None:
    if value not in PROBES:
        from devenv.errors import UsageError

        raise UsageError(f"--default-user-env-probe {value!r}: must be one of {', '.join(PROBES)}")


def _secrets(secrets_file: str | None) -> tuple[dict[str, str], Any]:
    """The secrets of ``--secrets-file`` (read before anything runs) and the reporter that masks them."""
    reporter: Any = output.reporter()
    if secrets_file is None:
        return {}, reporter
    from devenv.workspace.secrets import MaskingReporter, read_secrets_file

    try:
        secrets = read_secrets_file(secrets_file)
    except Exception as exc:
        _error_result(exc)
        raise
    return secrets, MaskingReporter(reporter, secrets)


def _dotfiles(repository: str | None, install_command: str | None, target_path: str) -> Any:
    if not repository:
        return None
    from devenv.workspace.dotfiles import Dotfiles

    return Dotfiles(repository, install_command or None, target_path or "~/dotfiles")


def _masked(reporter: Any, exc: BaseException) -> None:
    if hasattr(reporter, "mask_error"):
        reporter.mask_error(exc)


def _ref(folder: str | None, config: str | None, id_label: list[str] | None, runtime: str | None) -> Any:
    from devenv.workspace.manage import WorkspaceRef

    return WorkspaceRef(folder, config, tuple(id_label or ()), runtime)


def _error_result(exc: BaseException) -> None:
    """The reference prints ``{"outcome": "error", ...}`` on stdout; main prints it too in JSON mode."""
    from devenv.errors import DevenvError
    from devenv.workspace.up_args import print_result

    if output.settings.log_format != "json" and isinstance(exc, DevenvError):
        print_result({"outcome": "error", "message": exc.message, "description": exc.render()})


@accepts_ignored("up")
def up(
    workspace_folder: FolderOpt = None,
    config: ConfigOpt = None,
    id_label: IdLabelOpt = None,
    runtime: RuntimeOpt = None,
    remove_existing_container: Annotated[
        bool, typer.Option("--remove-existing-container", help="Remove the workspace's container first.")
    ] = False,
    build_no_cache: Annotated[bool, typer.Option("--build-no-cache", help="Build the image without cache.")] = False,
    expect_existing_container: Annotated[
        bool, typer.Option("--expect-existing-container", help="Fail if the container does not exist.")
    ] = False,
    skip_post_create: Annotated[
        bool, typer.Option("--skip-post-create", help="Run no lifecycle commands (onCreate ... postAttach).")
    ] = False,
    skip_post_attach: SkipPostAttachOpt = False,
    skip_non_blocking_commands: SkipNonBlockingOpt = False,
    mount: Annotated[
        list[str] | None, typer.Option("--mount", help="type=<bind|volume>,source=<source>,target=<target>")
    ] = None,
    remote_env: RemoteEnvOpt = None,
    additional_features: Annotated[
        str | None, typer.Option("--additional-features", help='More features, as JSON like "features".')
    ] = None,
    mount_workspace_git_root: Annotated[
        bool, typer.Option("--mount-workspace-git-root/--no-mount-workspace-git-root", help="Mount the git root.")
    ] = True,
    update_remote_user_uid_default: Annotated[
        str, typer.Option("--update-remote-user-uid-default", help="never, on or off.")
    ] = "on",
    default_user_env_probe: DefaultProbeOpt = "loginInteractiveShell",
    log_format: LogFormatOpt = None,
    override_config: OverrideConfigOpt = None,
    include_configuration: Annotated[
        bool, typer.Option("--include-configuration", help='Add "configuration" (devcontainer.json) to the result.')
    ] = False,
    include_merged_configuration: Annotated[
        bool,
        typer.Option(
            "--include-merged-configuration",
            help='Add "mergedConfiguration" (image metadata + features + devcontainer.json) to the result.',
        ),
    ] = False,
    omit_config_remote_env_from_metadata: Annotated[
        bool,
        typer.Option(
            "--omit-config-remote-env-from-metadata",
            help="Leave devcontainer.json's remoteEnv out of the container's devcontainer.metadata label.",
        ),
    ] = False,
    secrets_file: SecretsFileOpt = None,
    dotfiles_repository: DotfilesRepositoryOpt = None,
    dotfiles_install_command: DotfilesInstallCommandOpt = None,
    dotfiles_target_path: DotfilesTargetPathOpt = "~/dotfiles",
    no_lockfile: Annotated[
        bool, typer.Option("--no-lockfile", help="Neither read nor write the features' lockfile.")
    ] = False,
    frozen_lockfile: Annotated[
        bool, typer.Option("--frozen-lockfile", help="Fail unless the features' lockfile exists and stays unchanged.")
    ] = False,
    experimental_lockfile: Annotated[
        bool, typer.Option("--experimental-lockfile", help="Old name: the lockfile is used by default.")
    ] = False,
    experimental_frozen_lockfile: Annotated[
        bool, typer.Option("--experimental-frozen-lockfile", help="Old name of --frozen-lockfile.")
    ] = False,
) -> None:
    """Create and start the workspace container (or start it, or find it running), run its lifecycle commands."""
    output.set_log_format(log_format)
    from devenv import api
    from devenv.workspace.up import UpOptions

    _check_probe(default_user_env_probe)
    secrets, reporter = _secrets(secrets_file)
    dotfiles = _dotfiles(dotfiles_repository, dotfiles_install_command, dotfiles_target_path)
    opts = UpOptions(
        workspace_folder=workspace_folder,
        config=config,
        id_labels=tuple(id_label or ()),
        runtime=runtime,
        remove_existing_container=remove_existing_container,
        build_no_cache=build_no_cache,
        expect_existing_container=expect_existing_container,
        skip_post_create=skip_post_create,
        skip_post_attach=skip_post_attach,
        skip_non_blocking_commands=skip_non_blocking_commands,
        mounts=tuple(mount or ()),
        remote_env=tuple(remote_env or ()),
        additional_features=additional_features,
        mount_workspace_git_root=mount_workspace_git_root,
        update_remote_user_uid_default=update_remote_user_uid_default,
        default_user_env_probe=default_user_env_probe,
        override_config=override_config,
        omit_config_remote_env_from_metadata=omit_config_remote_env_from_metadata,
        secrets=secrets,
        dotfiles=dotfiles,
        no_lockfile=no_lockfile,
        frozen_lockfile=frozen_lockfile or experimental_frozen_lockfile,
    )
    try:
        result = api.up(opts, reporter)
        out = result.to_json()
        if include_configuration or include_merged_configuration:
            from devenv.workspace.up_args import configurations

            out.update(configurations(opts, result, include_configuration, include_merged_configuration))
    except Exception as exc:
        _masked(reporter, exc)
        _error_result(exc)
        raise
    print_result(out)


def rebuild(
    workspace_folder: FolderOpt = None,
    config: ConfigOpt = None,
    id_label: IdLabelOpt = None,
    runtime: RuntimeOpt = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Rebuild the image without cache.")] = False,
    log_format: LogFormatOpt = None,
) -> None:
    """Remove the workspace container and bring it up again from the current config."""
    output.set_log_format(log_format)
    from devenv import api
    from devenv.workspace.up import UpOptions

    opts = UpOptions(workspace_folder, config, tuple(id_label or ()), runtime, build_no_cache=no_cache)
    try:
        result = api.rebuild(opts, output.reporter())
    except Exception as exc:
        _error_result(exc)
        raise
    print_result(result.to_json())


@accepts_ignored("exec")
def exec_(
    ctx: typer.Context,
    workspace_folder: FolderOpt = None,
    config: ConfigOpt = None,
    id_label: IdLabelOpt = None,
    remote_env: RemoteEnvOpt = None,
    log_format: LogFormatOpt = None,
    container_id: Annotated[
        str | None,
        typer.Option(
            "--container-id", help="The container (id, id prefix or name) to run in: a workspace's, or any running one."
        ),
    ] = None,
    override_config: OverrideConfigOpt = None,
    default_user_env_probe: Annotated[
        str | None,
        typer.Option(
            "--default-user-env-probe",
            help="userEnvProbe when devcontainer.json has none, for this command: none, loginShell, "
            "interactiveShell, loginInteractiveShell (default: the probe `up` cached).",
        ),
    ] = None,
) -> None:
    """Run a command in the workspace: as its remote user, in its folder, with its environment.

    Usage: devenv exec [--workspace-folder DIR | --container-id ID] [--] CMD [ARGS...].
    The exit code is the command's.
    """
    output.set_log_format(log_format)
    from devenv import api
    from devenv.errors import UsageError
    from devenv.workspace.up_args import parse_remote_env

    argv = list(ctx.args)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("devenv exec needs a command", remedy="e.g. devenv exec -- ls -l")
    env = parse_remote_env(tuple(remote_env or ()))
    if container_id or override_config or default_user_env_probe:
        from devenv.workspace import exec_options

        if default_user_env_probe:
            _check_probe(default_user_env_probe)
        opts = exec_options.ExecOptions(
            workspace_folder,
            config,
            tuple(id_label or ()),
            container_id,
            override_config,
            default_user_env_probe,
            env,
        )
        raise typer.Exit(exec_options.run(opts, argv))
    code = api.exec_in_workspace(
        argv, workspace_folder=workspace_folder, config=config, id_labels=id_label or (), remote_env=env
    )
    raise typer.Exit(code)


def shell(workspace_folder: FolderOpt = None, config: ConfigOpt = None, id_label: IdLabelOpt = None) -> None:
    """An interactive login shell in the workspace (the remote user's shell)."""
    from devenv import api

    raise typer.Exit(api.shell_in_workspace(workspace_folder, config, id_label or ()))


def stop(
    workspace_folder: FolderOpt = None,
    config: ConfigOpt = None,
    id_label: IdLabelOpt = None,
    runtime: RuntimeOpt = None,
    force: Annotated[bool, typer.Option("--force", help='Stop even when shutdownAction is "none".')] = False,
) -> None:
    """Stop the workspace container (it keeps its state; `devenv up` starts it again)."""
    from devenv import api

    result = api.stop_workspace(
        _ref(workspace_folder, config, id_label, runtime), force=force, reporter=output.reporter()
    )
    output.result(result.to_json(), lambda _: result.message)


def down(
    workspace_folder: FolderOpt = None,
    config: ConfigOpt = None,
    id_label: IdLabelOpt = None,
    runtime: RuntimeOpt = None,
    volumes: Annotated[bool, typer.Option("--volumes", help="Also remove the container's anonymous volumes.")] = False,
) -> None:
    """Stop and remove the workspace container. The source folder is never touched."""
    from devenv import api

    result = api.down_workspace(
        _ref(workspace_folder, config, id_label, runtime), volumes=volumes, reporter=output.reporter()
    )
    text = f"removed {result.container_id[:12]}" if result.removed and result.container_id else "nothing to remove"
    output.result(result.to_json(), lambda _: text)


def ls(
    json_: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    runtime: Annotated[list[str] | None, typer.Option("--runtime", help="Only this runtime (repeatable).")] = None,
) -> None:
    """List workspaces: name, folder, status, image, ports, created."""
    from devenv import api
    from devenv.workspace.manage import age

    items = api.list_workspaces(runtime)
    if json_:
        output.settings.log_format = "json"

    def human(_: Any) -> str:
        rows = [
            [
                w.name,
                w.workspace_folder,
                w.status,
                w.runtime,
                w.image,
                ", ".join(w.ports),
                age(w.created) if w.created else "",
            ]
            for w in items
        ]
        return output.table(rows, ["name", "folder", "status", "runtime", "image", "ports", "created"])

    output.result([w.to_json() for w in items], human)


def status(
    workspace_folder: FolderOpt = None,
    config: ConfigOpt = None,
    id_label: IdLabelOpt = None,
    runtime: RuntimeOpt = None,
    json_: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """The workspace's container: status, runtime, image, ports, remote user and folder."""
    from devenv import api

    info = api.workspace_status(_ref(workspace_folder, config, id_label, runtime))
    if json_:
        output.settings.log_format = "json"
    data = info.to_json()
    output.result(data, lambda _: "\n".join(f"{k}: {v}" for k, v in data.items()))


def logs(
    workspace_folder: FolderOpt = None,
    config: ConfigOpt = None,
    id_label: IdLabelOpt = None,
    runtime: RuntimeOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new output.")] = False,
) -> None:
    """The output of the workspace container's main process."""
    from devenv import api

    for chunk in api.workspace_logs(_ref(workspace_folder, config, id_label, runtime), follow=follow):
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()


@accepts_ignored("run-user-commands")
def run_user_commands(
    workspace_folder: FolderOpt = None,
    config: ConfigOpt = None,
    id_label: IdLabelOpt = None,
    runtime: RuntimeOpt = None,
    skip_non_blocking_commands: SkipNonBlockingOpt = False,
    skip_post_attach: SkipPostAttachOpt = False,
    remote_env: RemoteEnvOpt = None,
    log_format: LogFormatOpt = None,
    secrets_file: SecretsFileOpt = None,
    dotfiles_repository: DotfilesRepositoryOpt = None,
    dotfiles_install_command: DotfilesInstallCommandOpt = None,
    dotfiles_target_path: DotfilesTargetPathOpt = "~/dotfiles",
) -> None:
    """Run the lifecycle commands that are due in the workspace's running container."""
    output.set_log_format(log_format)
    from devenv import api
    from devenv.workspace.usercommands import RunUserCommandsOptions

    secrets, reporter = _secrets(secrets_file)

    opts = RunUserCommandsOptions(
        workspace_folder,
        config,
        tuple(id_label or ()),
        runtime,
        skip_non_blocking_commands,
        skip_post_attach,
        tuple(remote_env or ()),
        secrets=secrets,
        dotfiles=_dotfiles(dotfiles_repository, dotfiles_install_command, dotfiles_target_path),
    )
    try:
        result = api.run_user_commands(opts, reporter)
    except Exception as exc:
        _masked(reporter, exc)
        _error_result(exc)
        raise
    output.result(result.to_json())


@accepts_ignored("set-up")
def set_up(
    container_id: Annotated[str, typer.Option("--container-id", help="The running container to set up.")],
    config: ConfigOpt = None,
    runtime: RuntimeOpt = None,
    skip_post_create: Annotated[bool, typer.Option("--skip-post-create", help="Run no lifecycle commands.")] = False,
    skip_post_attach: SkipPostAttachOpt = False,
    skip_non_blocking_commands: SkipNonBlockingOpt = False,
    remote_env: RemoteEnvOpt = None,
    log_format: LogFormatOpt = None,
    secrets_file: SecretsFileOpt = None,
    dotfiles_repository: DotfilesRepositoryOpt = None,
    dotfiles_install_command: DotfilesInstallCommandOpt = None,
    dotfiles_target_path: DotfilesTargetPathOpt = "~/dotfiles",
) -> None:
    """Set up an existing container as a dev container (environment and lifecycle commands)."""
    output.set_log_format(log_format)
    from devenv import api
    from devenv.workspace.usercommands import SetUpOptions

    secrets, reporter = _secrets(secrets_file)

    opts = SetUpOptions(
        container_id,
        config,
        runtime,
        skip_post_create,
        skip_post_attach,
        skip_non_blocking_commands,
        tuple(remote_env or ()),
        secrets=secrets,
        dotfiles=_dotfiles(dotfiles_repository, dotfiles_install_command, dotfiles_target_path),
    )
    try:
        result = api.set_up(opts, reporter)
    except Exception as exc:
        _masked(reporter, exc)
        _error_result(exc)
        raise
    output.result(result.to_json())


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command(
        "exec",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "allow_interspersed_args": False},
    )(exec_)
    app.command("shell")(shell)
    app.command("stop")(stop)
    app.command("down")(down)
    app.command("rebuild")(rebuild)
    app.command("ls")(ls)
    app.command("status")(status)
    app.command("logs")(logs)
    app.command("run-user-commands")(run_user_commands)
    app.command("set-up")(set_up)
