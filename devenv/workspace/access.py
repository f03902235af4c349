"""``devenv exec`` and ``devenv shell``: run a command in a workspace, as its remote user, in its folder.

This is on every keystroke path of tools, so it does as little as possible: find the config file
(a couple of ``stat``), hash the id labels, read the workspace state ``up`` left, and ask the runtime to
exec — no config parsing, no probing. Only when devcontainer.json changed since ``up`` is the remote
environment recomputed from it (cheaply: the probed shell environment is cached in the state).
"""

from __future__ import annotations

import os
import sys

from devenv.workspace import state as states
from devenv.workspace.identity import default_id_labels, parse_id_labels, workspace_key

TYPE_CHECKING = False  # (typing is not imported at run time: this is exec's path)
if TYPE_CHECKING:
    from collections.abc import Sequence

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
    workspace_folder: str | None = None,
    config: str | None = None,
    id_labels: Sequence[str] = (),
    *,
    known_without_config: bool = True,
) -> Target:
    """The workspace of ``--workspace-folder`` (default: the current folder or the nearest parent with a config).
    A folder without a config is still the workspace devenv brought up there (with ``--override-config``,
    or before the config was removed), unless ``known_without_config`` is off (``up`` needs the config)."""
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
        known = _known_workspace(start) if known_without_config else None
        if known is not None:
            return known
        raise _error(
            f"no dev container config found for {start}",
            "run the command in a workspace folder, or pass --workspace-folder / --config",
        )
    labels = parse_id_labels(id_labels) if id_labels else default_id_labels(folder, config_file)
    return Target(folder, config_file, labels, subfolder)


def _known_workspace(folder: str) -> Target | None:
    """The workspace devenv brought up for ``folder`` when the folder has no config file of its own."""
    known = [st for st in states.all_states() if st.workspace_folder == folder]
    if not known:
        return None
    if len(known) > 1:
        configs = ", ".join(sorted(st.config_file for st in known))
        raise _error(
            f"{folder} has no dev container config and several workspaces: {configs}",
            "pass --config with the one you mean",
        )
    return Target(folder, known[0].config_file, dict(known[0].id_labels))


def load_state(target: Target) -> states.WorkspaceState:
    st = states.load(workspace_key(target.labels))
    if st is None:
        where = target.workspace_folder or ", ".join(f"{k}={v}" for k, v in target.labels.items())
        raise _error(f"no running workspace for {where}", "start it with `devenv up` (in that folder)")
    return st


def exec_env(st: states.WorkspaceState, keys_needed: bool = False) -> dict[str, str]:
    """The environment of tool processes; recomputed when devcontainer.json changed since ``up`` (or when
    ``keys_needed`` and the state does not know the names remoteEnv sets: one written by an older devenv)."""
    if not st.config_file or (
        states.config_stamp(st.config_file) == st.config_stamp and not (keys_needed and st.remote_env_keys is None)
    ):
        return st.env
    from devenv.workspace.refresh import refresh_env

    return refresh_env(st)


def with_exec_remote_env(
    env: dict[str, str], remote_env: dict[str, str] | None, config_keys: Sequence[str] | None
) -> dict[str, str]:
    """``env`` (probed, ``up --remote-env``, then remoteEnv) with ``exec --remote-env`` added — under the
    config's remoteEnv, as the reference does (``{...probed, ...cli, ...remoteEnv}``): a name remoteEnv
    sets keeps remoteEnv's value (a ``null`` there keeps it out)."""
    out = dict(env)
    if remote_env:
        keys = config_keys or ()
        out.update({k: v for k, v in remote_env.items() if k not in keys})
    return out


def run(
    target: Target,
    argv: Sequence[str],
    *,
    tty: bool | None = None,
    remote_env: dict[str, str] | None = None,
    login_shell: bool = False,
    state: states.WorkspaceState | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Run ``argv`` in the workspace with the caller's terminal; returns its exit code.

    ``state`` and ``env``: the workspace state and tool environment when the caller has them already
    (``exec --container-id`` / ``--override-config``)."""
    st = state if state is not None else load_state(target)
    env = with_exec_remote_env(
        env if env is not None else exec_env(st, keys_needed=bool(remote_env)), remote_env, st.remote_env_keys
    )
    argv0 = ""
    if login_shell:  # as login(1) and sshd start one: argv[0] is "-" and the shell's name
        argv, argv0 = [st.shell], "-" + os.path.basename(st.shell)
    if tty is None:
        tty = sys.stdin.isatty() and sys.stdout.isatty()
    workdir = st.remote_workspace_folder or st.home
    if target.subfolder and st.remote_workspace_folder:
        workdir = os.path.join(st.remote_workspace_folder, target.subfolder)
    import signal

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command gets Ctrl-C, not us
    try:
        if st.runtime == "docker":
            code = _docker_exec(st, argv, env, workdir, tty, argv0)
        else:
            code = _runtime_exec(st, argv, env, workdir, tty, argv0)
    finally:
        signal.signal(signal.SIGINT, previous)
    if code in (1, 126, 127):
        _check_running(st)
    return code


LOGIN_SHELLS_WITH_EXEC_A = ("bash", "zsh", "ksh", "mksh")


def _docker_exec(
    st: states.WorkspaceState, argv: Sequence[str], env: dict[str, str], workdir: str, tty: bool, argv0: str = ""
) -> int:
    """Straight to the docker CLI: nothing of devenv's runtime layer is imported on this path."""
    import subprocess

    from devenv.runtime.dockercli import exec_argv

    if argv0:
        # docker exec cannot set argv[0]: a shell that has `exec -a` replaces itself with the program
        # under that name; other shells are asked to be a login shell with -l.
        if os.path.basename(argv[0]) in LOGIN_SHELLS_WITH_EXEC_A:
            argv = [argv[0], "-c", 'exec -a "$0" "$1"', argv0, argv[0]]
        else:
            argv = [argv[0], "-l", *argv[1:]]

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


def _runtime_exec(
    st: states.WorkspaceState, argv: Sequence[str], env: dict[str, str], workdir: str, tty: bool, argv0: str = ""
) -> int:
    """The caller's stdin (terminal, pipe, file or /dev/null), stdout and stderr are the process's."""
    fields = {
        "argv": tuple(argv),
        "env": tuple(f"{k}={v}" for k, v in env.items()),
        "user": st.remote_user,
        "workdir": workdir,
        "tty": tty,
        "interactive": True,
        "argv0": argv0,
    }
    if st.runtime == "embedded":
        # The embedded runtime's exec, straight: neither the runtime class nor the dataclass contract
        # is imported (an ExecSpec's fields in a namespace).
        from types import SimpleNamespace

        from devenv.runtime.embedded import exec as exec_mod

        spec = SimpleNamespace(**fields)
        return exec_mod.exec_command(states.data_root(), st.container_id, spec)  # type: ignore[arg-type]
    from devenv.runtime.base import ExecSpec
    from devenv.workspace.backends import open_runtime

    return open_runtime(st.runtime).exec(st.container_id, ExecSpec(**fields))  # type: ignore[arg-type]


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
