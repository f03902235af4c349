"""``devenv exec`` and ``devenv shell``: run a command in a workspace, as its remote user, in its folder.

This is on every keystroke path of tools, so it does as little as possible: find the config file
(a couple of ``stat``), hash the id labels, read the workspace state ``up`` left, and ask the runtime to
exec — no config parsing, no probing. Only when devcontainer.json changed since ``up`` is the remote
environment recomputed from it (cheaply: the probed shell environment is cached in the state).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from devenv.workspace import state as states
from devenv.workspace.identity import default_id_labels, parse_id_labels, workspace_key

if TYPE_CHECKING:
    from devenv.errors import WorkspaceError


def _error(message: str, remedy: str) -> WorkspaceError:
    from devenv.errors import WorkspaceError

    return WorkspaceError(message, remedy=remedy)


WELL_KNOWN = (".devcontainer/devcontainer.json", ".devcontainer.json")


class Target:
    """Which workspace a command means, and where in it the user is (a plain class: fast path)."""

    def __init__(self, workspace_folder: str, config_file: str, labels: dict[str, str], subfolder: str = "") -> None:
        self.workspace_folder = workspace_folder
        self.config_file = config_file
        self.labels = labels
        self.subfolder = subfolder  # the cwd's path below the workspace folder, when found by walking up


def _absolute(path: str) -> str:
    return os.path.normpath(os.path.join(os.getcwd(), path))


def _config_in(folder: str) -> str | None:
    for name in WELL_KNOWN:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    try:
        subs = sorted(os.listdir(os.path.join(folder, ".devcontainer")))
    except OSError:
        return None
    found = [p for s in subs if os.path.isfile(p := os.path.join(folder, ".devcontainer", s, "devcontainer.json"))]
    return found[0] if len(found) == 1 else None


def resolve_target(
    workspace_folder: str | None = None, config: str | None = None, id_labels: Sequence[str] = ()
) -> Target:
    """The workspace of ``--workspace-folder`` (default: the current folder or the nearest parent with a config)."""
    if id_labels and workspace_folder is None:
        labels = parse_id_labels(id_labels)
        return Target("", config or "", labels)
    start = _absolute(workspace_folder or ".")
    folder, subfolder = start, ""
    config_file = _absolute(config) if config else _config_in(folder)
    if config_file is None and workspace_folder is None:
        current = folder
        while os.path.dirname(current) != current:
            current = os.path.dirname(current)
            found = _config_in(current)
            if found is not None:
                folder, config_file, subfolder = current, found, os.path.relpath(start, current)
                break
    if config_file is None:
        raise _error(
            f"no dev container config found for {start}",
            "run the command in a workspace folder, or pass --workspace-folder / --config",
        )
    labels = parse_id_labels(id_labels) if id_labels else default_id_labels(folder, config_file)
    return Target(folder, config_file, labels, subfolder)


def load_state(target: Target) -> states.WorkspaceState:
    st = states.load(workspace_key(target.labels))
    if st is None:
        where = target.workspace_folder or ", ".join(f"{k}={v}" for k, v in target.labels.items())
        raise _error(f"no running workspace for {where}", "start it with `devenv up` (in that folder)")
    return st


def exec_env(st: states.WorkspaceState) -> dict[str, str]:
    """The environment of tool processes; recomputed when devenv.json changed since ``up``."""
    if not st.config_file or states.config_stamp(st.config_file) == st.config_stamp:
        return st.env
    from devenv.workspace.refresh import refresh_env

    return refresh_env(st)


def run(
    target: Target,
    argv: Sequence[str],
    *,
    tty: bool | None = None,
    remote_env: dict[str, str] | None = None,
    login_shell: bool = False,
) -> int:
    """Run ``argv`` in the workspace with the caller's terminal; returns its exit code."""
    st = load_state(target)
    env = dict(exec_env(st))
    env.update(remote_env or {})
    if login_shell:
        argv = [st.shell, "-l"]
    if tty is None:
        tty = sys.stdin.isatty() and sys.stdout.isatty()
    workdir = st.remote_workspace_folder or st.home
    if target.subfolder and st.remote_workspace_folder:
        workdir = os.path.join(st.remote_workspace_folder, target.subfolder)
    import signal

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command gets Ctrl-C, not us
    try:
        if st.runtime == "docker":
            code = _docker_exec(st, argv, env, workdir, tty)
        else:
            code = _runtime_exec(st, argv, env, workdir, tty)
    finally:
        signal.signal(signal.SIGINT, previous)
    if code in (1, 126, 127):
        _check_running(st)
    return code


def _docker_exec(st: states.WorkspaceState, argv: Sequence[str], env: dict[str, str], workdir: str, tty: bool) -> int:
    """Straight to the docker CLI: nothing of devenv's runtime layer is imported on this path."""
    import subprocess

    from devenv.runtime.dockercli import exec_argv

    args = exec_argv(
        "docker",
        st.container_id,
        argv,
        user=st.remote_user,
        workdir=workdir,
        env=[f"{k}={v}" for k, v in env.items()],
        tty=tty,
        interactive=True,
    )
    try:
        return subprocess.call(args)
    except OSError as exc:
        raise _error(f"cannot run the docker CLI: {exc.strerror}", "install docker (docker.io)") from exc


def _runtime_exec(st: states.WorkspaceState, argv: Sequence[str], env: dict[str, str], workdir: str, tty: bool) -> int:
    import stat
    import threading

    from devenv.runtime.base import ExecIO, ExecSpec
    from devenv.workspace.backends import open_runtime

    # The caller's stdin is relayed as it is when it can be polled (terminal, pipe, socket). A regular
    # file is fed through a pipe; /dev/null (or nothing) means no input at all.
    io: ExecIO | None = None
    interactive = True
    feeder: threading.Thread | None = None
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        mode = 0
    if stat.S_ISREG(mode):
        read_fd, write_fd = os.pipe()

        def feed() -> None:
            with os.fdopen(write_fd, "wb") as out:
                try:
                    while chunk := os.read(0, 65536):
                        out.write(chunk)
                except OSError:
                    pass

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        io = ExecIO(stdin=os.fdopen(read_fd, "rb"))
    elif not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(0)):
        interactive = False
        io = ExecIO(stdin=open(os.devnull, "rb"))  # noqa: SIM115 - closed with the process
    spec = ExecSpec(
        tuple(argv),
        env=tuple(f"{k}={v}" for k, v in env.items()),
        user=st.remote_user,
        workdir=workdir,
        tty=tty,
        interactive=interactive,
    )
    return open_runtime(st.runtime).exec(st.container_id, spec, io)


def _check_running(st: states.WorkspaceState) -> None:
    """After a failure that may be the runtime's: say so clearly when the container is not running."""
    from devenv.errors import DevenvError
    from devenv.runtime.base import ContainerStatus
    from devenv.workspace.backends import open_runtime

    try:
        status = open_runtime(st.runtime).get(st.container_id).status
    except DevenvError:
        status = None
    if status is not ContainerStatus.RUNNING:
        raise _error(
            f"the workspace container {st.container_name or st.container_id[:12]} is not running",
            "start it with `devenv up`",
        )
