"""``devenv exec`` without typer: it runs on every keystroke path of tools, so start-up is most of its cost.

Parses the reference's ``exec`` options itself and returns None for anything it does not know
(``--help``, unknown flags), so that the typer command handles and explains those.
"""

from __future__ import annotations

TYPE_CHECKING = False  # (typing is not imported at run time: this is exec's path)
if TYPE_CHECKING:
    from collections.abc import Sequence

    from devenv.events import Reporter
    from devenv.workspace.hooks import OutputLine
    from devenv.workspace.state import WorkspaceState

_VALUE = {"--workspace-folder", "--config", "--log-format", "--container-id", "--override-config"}
_LIST = {"--id-label", "--remote-env"}
# The reference's options that mean nothing to devenv (accepted, as scripts pass them).
_IGNORED_VALUE = {
    "--log-level",
    "--docker-path",
    "--docker-compose-path",
    "--terminal-columns",
    "--terminal-rows",
    "--user-data-folder",
    "--container-data-folder",
    "--container-system-data-folder",
}
_IGNORED_FLAG = {"--mount-workspace-git-root", "--no-mount-workspace-git-root", "--mount-git-worktree-common-dir"}
# Options the typer command handles (they need more than the workspace state).
_FULL = {"--override-config", "--default-user-env-probe"}


def fast_exec(argv: list[str]) -> int | None:
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {name: [] for name in _LIST}
    args = list(argv)
    while args and args[0].startswith("--"):
        arg = args.pop(0)
        if arg == "--":
            break
        name, eq, inline = arg.partition("=")
        if name in _IGNORED_FLAG:
            continue
        if name not in _VALUE | _LIST | _IGNORED_VALUE or name in _FULL:
            return None
        if not eq and not args:
            return None
        value = inline if eq else args.pop(0)
        if name in _LIST:
            lists[name].append(value)
        elif name in _VALUE:
            values[name] = value
    if not args:
        return None
    from devenv.cli import main, output
    from devenv.errors import DevenvError

    try:
        output.set_log_format(values.get("--log-format"))
        from devenv.workspace.access import Target, resolve_target, run
        from devenv.workspace.up_args import parse_remote_env

        remote_env = parse_remote_env(tuple(lists["--remote-env"]))
        if "--container-id" in values:
            from devenv.workspace.by_container import state_of_container

            st = state_of_container(values["--container-id"])
            if st is None:
                return None  # a container no workspace knows: the full command sets it up for the command
            return run(Target(st.workspace_folder, st.config_file, st.id_labels), args, remote_env=remote_env, state=st)
        target = resolve_target(values.get("--workspace-folder"), values.get("--config"), lists["--id-label"])
        return run(target, args, remote_env=remote_env)
    except DevenvError as exc:
        # (a command that cannot be run exits 126/127, as docker exec: the runtime's ExecFailed says which)
        code = getattr(exc, "command_exit_code", exc.exit_code)
        return main._report(exc, code, exc.message, exc.render())
    except KeyboardInterrupt as exc:
        return main._report(exc, 130, "interrupted")


# `devenv up` flags (the reference's names) -> UpOptions fields.
_UP_VALUE = {
    "--workspace-folder": "workspace_folder",
    "--config": "config",
    "--runtime": "runtime",
    "--additional-features": "additional_features",
    "--update-remote-user-uid-default": "update_remote_user_uid_default",
    "--default-user-env-probe": "default_user_env_probe",
    "--log-format": "",
}
_UP_LIST = {"--id-label": "id_labels", "--mount": "mounts", "--remote-env": "remote_env"}
_UP_BOOL = {
    "--remove-existing-container": "remove_existing_container",
    "--build-no-cache": "build_no_cache",
    "--expect-existing-container": "expect_existing_container",
    "--skip-post-create": "skip_post_create",
    "--skip-post-attach": "skip_post_attach",
    "--skip-non-blocking-commands": "skip_non_blocking_commands",
    "--mount-workspace-git-root": "mount_workspace_git_root",
    "--no-lockfile": "no_lockfile",
    "--frozen-lockfile": "frozen_lockfile",
    "--experimental-frozen-lockfile": "frozen_lockfile",
    "--experimental-lockfile": "",
    "--skip-feature-auto-mapping": "",
}
_UP_IGNORED_VALUE = {
    "--log-level",
    "--docker-path",
    "--docker-compose-path",
    "--terminal-columns",
    "--terminal-rows",
    "--buildkit",
    "--workspace-mount-consistency",
    "--user-data-folder",
    "--container-data-folder",
    "--container-system-data-folder",
    "--container-session-data-folder",
    "--gpu-availability",
}
_PROBES = ("none", "loginShell", "interactiveShell", "loginInteractiveShell")
# Flags that need the full `up` (the quick check below does not apply).
_NOT_QUICK = {"remove_existing_container", "build_no_cache", "skip_post_create", "mounts", "remote_env"}


def _parse_up(argv: list[str]) -> tuple[dict[str, object], str | None] | None:
    """The ``up`` options as UpOptions keyword arguments, and --log-format; None for anything else."""
    opts: dict[str, object] = {}
    log_format = None
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, inline = arg.partition("=")
        if name in _UP_BOOL or name == "--no-mount-workspace-git-root":
            if eq and inline not in ("true", "false"):
                return None
            value = not eq or inline == "true"
            if name == "--no-mount-workspace-git-root":
                opts["mount_workspace_git_root"] = not value
            elif _UP_BOOL[name]:
                opts[_UP_BOOL[name]] = value or bool(opts.get(_UP_BOOL[name]))
            continue
        if name not in _UP_VALUE.keys() | _UP_LIST.keys() | _UP_IGNORED_VALUE or (not eq and not args):
            return None
        value_text = inline if eq else args.pop(0)
        if name == "--default-user-env-probe" and value_text not in _PROBES:
            return None  # (typer's command explains the error)
        if name == "--log-format":
            log_format = value_text
        elif name in _UP_LIST:
            items = opts.setdefault(_UP_LIST[name], [])
            assert isinstance(items, list)
            items.append(value_text)
        elif name in _UP_VALUE:
            opts[_UP_VALUE[name]] = value_text
    for key in _UP_LIST.values():
        if key in opts:
            opts[key] = tuple(opts[key])  # type: ignore[arg-type]
    return opts, log_format


def fast_up(argv: list[str]) -> int | None:
    """``devenv up`` without typer (its import is a good part of a quick ``up``).

    On a workspace that is running and set up for its current start nothing is parsed, built or probed:
    only initializeCommand (host) and postAttachCommand run. Otherwise the full ``up`` runs, from here.
    Returns None for ``--help`` and flags it does not know: typer handles and explains those.
    """
    parsed = _parse_up(argv)
    if parsed is None:
        return None
    opts, log_format = parsed
    from devenv.workspace.up_args import print_result, up_result

    ready = None if _NOT_QUICK & {k for k, v in opts.items() if v} else _quick_ready(opts)
    if ready is not None and log_format is None and not ready.initialize_command and not ready.post_attach:
        print_result(up_result(ready.container_id, ready.remote_user, ready.remote_workspace_folder))
        return 0  # the quickest path: nothing to run, nothing more to import
    from devenv.cli import main, output
    from devenv.errors import DevenvError

    try:
        output.set_log_format(log_format)
        reporter = output.reporter()
        if ready is not None:
            if ready.initialize_command:
                _run_initialize(ready, reporter)
            if ready.post_attach and not (opts.get("skip_post_attach") or opts.get("skip_non_blocking_commands")):
                _run_post_attach(ready, reporter)
            print_result(up_result(ready.container_id, ready.remote_user, ready.remote_workspace_folder))
            return 0
        import sys

        if sys.argv[1:2] == ["up"]:  # this process is the command: it exits once the workspace is up
            from devenv import fastclasses

            fastclasses.enable()  # (before the imports below define their dataclasses; see cli.main.run)
            from devenv.runtime.embedded import spawn

            spawn.caller_exits_soon = True  # (a supervisor it starts is forked once, not twice)
        from devenv import api
        from devenv.workspace.up import UpOptions

        result = api.up(UpOptions(**opts), reporter)  # type: ignore[arg-type]
    except DevenvError as exc:
        if output.settings.log_format != "json":
            print_result({"outcome": "error", "message": exc.message, "description": exc.render()})
        return main._report(exc, exc.exit_code, exc.message, exc.render())
    except KeyboardInterrupt as exc:
        return main._report(exc, 130, "interrupted")
    print_result(result.to_json())
    return 0


def _quick_ready(opts: dict[str, object]) -> WorkspaceState | None:
    from devenv.errors import DevenvError

    folder = opts.get("workspace_folder")
    config = opts.get("config")
    labels = opts.get("id_labels") or ()
    runtime = opts.get("runtime")
    try:
        values = {"--workspace-folder": str(folder or "."), "--runtime": str(runtime) if runtime else ""}
        if config:
            values["--config"] = str(config)
        return _ready_workspace(values, list(labels))  # type: ignore[call-overload]
    except DevenvError:
        return None


def _ready_workspace(values: dict[str, str], id_labels: list[str]) -> WorkspaceState | None:
    from devenv.workspace import state as states
    from devenv.workspace.access import resolve_target
    from devenv.workspace.identity import workspace_key

    target = resolve_target(
        values.get("--workspace-folder") or ".", values.get("--config"), id_labels, known_without_config=False
    )
    st = states.load(workspace_key(target.labels))
    if st is None or not st.setup_done or st.cli_remote_env:
        return None
    if values.get("--runtime") and values["--runtime"] != st.runtime:
        return None
    if st.config_file and states.config_stamp(st.config_file) != st.config_stamp:
        return None
    if _started_stamp(st) != st.started:
        return None
    return st


def _started_stamp(st: WorkspaceState) -> str | None:
    """The start stamp of the workspace container when it is running, else None."""
    if st.runtime == "docker":
        from devenv.runtime.dockercli import inspect_state, parse_docker_time

        info = inspect_state(st.container_id)
        if info is None:
            import json
            import subprocess

            proc = subprocess.run(
                ["docker", "inspect", "--type", "container", "--format", "{{json .State}}", st.container_id],
                capture_output=True,
                stdin=subprocess.DEVNULL,
            )
            if proc.returncode != 0:
                return None
            info = json.loads(proc.stdout)
        if info.get("Status") != "running":
            return None
        started = info.get("StartedAt")
        return repr(parse_docker_time(started if isinstance(started, str) else None) or 0.0)
    if st.runtime == "embedded":
        # The embedded runtime's state file and liveness check (stdlib-only modules, made for this path).
        from devenv.runtime.embedded import layout
        from devenv.runtime.embedded import state as embedded_state
        from devenv.workspace.state import data_root

        try:
            current = embedded_state.refreshed(layout.container_dir(data_root(), st.container_id))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return repr(current.started_at or 0.0) if current.status == "running" else None
    from devenv.runtime.base import ContainerStatus
    from devenv.workspace.backends import open_runtime

    c = open_runtime(st.runtime).get(st.container_id)
    return repr(c.started_at or 0.0) if c.status is ContainerStatus.RUNNING else None


def _run_initialize(st: WorkspaceState, reporter: Reporter) -> None:
    from devenv.hosts.local import LocalHost
    from devenv.workspace.hooks import Hook, run_hook

    host = LocalHost()
    cwd = st.workspace_folder or None

    def run(argv: Sequence[str], on_line: OutputLine) -> int:
        return host.stream(list(argv), on_line, cwd=cwd)

    run_hook("initializeCommand", [Hook("devcontainer.json", st.initialize_command)], run, reporter)


def _run_post_attach(st: WorkspaceState, reporter: Reporter) -> None:
    from devenv.workspace import incontainer
    from devenv.workspace.backends import open_runtime
    from devenv.workspace.hooks import Hook, run_hook

    runtime = open_runtime(st.runtime)
    run = incontainer.runner(
        runtime, st.container_id, user=st.remote_user, workdir=st.remote_workspace_folder or st.home, env=st.env
    )
    hooks = [Hook(origin, command) for origin, command in st.post_attach]
    run_hook("postAttachCommand", hooks, run, reporter)
