"""``devenv exec`` without typer: it runs on every keystroke path of tools, so start-up is most of its cost.

Parses the reference's ``exec`` options itself and returns None for anything it does not know
(``--help``, unknown flags), so that the typer command handles and explains those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devenv.events import Reporter
    from devenv.workspace.hooks import OutputLine
    from devenv.workspace.state import WorkspaceState

_VALUE = {"--workspace-folder", "--config", "--log-format", "--container-id"}
_LIST = {"--id-label", "--remote-env"}
_IGNORED_VALUE = {"--log-level", "--docker-path", "--default-user-env-probe", "--terminal-columns", "--terminal-rows"}


def fast_exec(argv: list[str]) -> int | None:
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {name: [] for name in _LIST}
    args = list(argv)
    while args and args[0].startswith("--"):
        arg = args.pop(0)
        if arg == "--":
            break
        name, eq, inline = arg.partition("=")
        if name not in _VALUE | _LIST | _IGNORED_VALUE:
            return None
        if not eq and not args:
            return None
        value = inline if eq else args.pop(0)
        if name in _LIST:
            lists[name].append(value)
        elif name in _VALUE:
            values[name] = value
    if not args or "--container-id" in values:
        return None
    from devenv.cli import main, output
    from devenv.errors import DevenvError

    try:
        output.set_log_format(values.get("--log-format"))
        from devenv.workspace.access import resolve_target, run
        from devenv.workspace.up_args import parse_remote_env

        target = resolve_target(values.get("--workspace-folder"), values.get("--config"), lists["--id-label"])
        return run(target, args, remote_env=parse_remote_env(tuple(lists["--remote-env"])))
    except DevenvError as exc:
        return main._report(exc, exc.exit_code, exc.message, exc.render())
    except KeyboardInterrupt as exc:
        return main._report(exc, 130, "interrupted")


_UP_VALUE = {"--workspace-folder", "--config", "--log-format", "--runtime"}
_UP_BOOL = {"--skip-post-attach", "--skip-non-blocking-commands", "--expect-existing-container"}
_UP_IGNORED_VALUE = {"--log-level", "--docker-path"}


def fast_up(argv: list[str]) -> int | None:
    """``devenv up`` on a workspace that is running and set up for its current start: no config parsing,
    no image or container work, no probe — only initializeCommand (host) and postAttachCommand, if any.

    Returns None whenever that is not the case (or for flags it does not know): the full ``up`` runs.
    """
    values: dict[str, str] = {}
    flags: set[str] = set()
    id_labels: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, inline = arg.partition("=")
        if name in _UP_BOOL:
            if eq and inline not in ("true", "false"):
                return None
            if not eq or inline == "true":
                flags.add(name)
            continue
        if name not in _UP_VALUE | _UP_IGNORED_VALUE | {"--id-label"} or (not eq and not args):
            return None
        value = inline if eq else args.pop(0)
        if name == "--id-label":
            id_labels.append(value)
        elif name in _UP_VALUE:
            values[name] = value
    from devenv.errors import DevenvError

    try:
        ready = _ready_workspace(values, id_labels)
    except DevenvError:
        return None
    if ready is None:
        return None
    from devenv.cli import main, output
    from devenv.workspace.up_args import print_result, up_result

    st = ready
    try:
        output.set_log_format(values.get("--log-format"))
        reporter = output.reporter()
        if st.initialize_command:
            _run_initialize(st, reporter)
        if st.post_attach and not flags & {"--skip-post-attach", "--skip-non-blocking-commands"}:
            _run_post_attach(st, reporter)
    except DevenvError as exc:
        if output.settings.log_format != "json":
            print_result({"outcome": "error", "message": exc.message, "description": exc.render()})
        return main._report(exc, exc.exit_code, exc.message, exc.render())
    except KeyboardInterrupt as exc:
        return main._report(exc, 130, "interrupted")
    print_result(up_result(st.container_id, st.remote_user, st.remote_workspace_folder))
    return 0


def _ready_workspace(values: dict[str, str], id_labels: list[str]) -> WorkspaceState | None:
    from devenv.workspace import state as states
    from devenv.workspace.access import resolve_target
    from devenv.workspace.identity import workspace_key

    target = resolve_target(values.get("--workspace-folder") or ".", values.get("--config"), id_labels)
    st = states.load(workspace_key(target.labels))
    if st is None or not st.setup_done or st.cli_remote_env:
        return None
    if values.get("--runtime", st.runtime) != st.runtime:
        return None
    if st.config_file and states.config_stamp(st.config_file) != st.config_stamp:
        return None
    if _started_stamp(st) != st.started:
        return None
    return st


def _started_stamp(st: WorkspaceState) -> str | None:
    """The start stamp of the workspace container when it is running, else None."""
    if st.runtime == "docker":
        import json
        import subprocess

        from devenv.runtime.dockercli import parse_docker_time

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
        return repr(parse_docker_time(info.get("StartedAt")) or 0.0)
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
