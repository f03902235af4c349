"""What devenv remembers about a workspace between commands (``<data root>/workspaces/<id>/``).

``state.json`` holds what ``exec`` and ``shell`` need without asking the runtime or re-reading the
config: the container, the remote user, the working folder, the probed environment. It is a cache:
the container (found by its id labels) stays the truth, and a missing or stale state is rebuilt by
``up``. ``lock`` serialises commands that change the workspace (two ``up`` on one folder).
This module imports nothing heavy: it is on ``devenv exec``'s fast path.
"""

from __future__ import annotations

import contextlib
import json
import os

TYPE_CHECKING = False  # (typing is not imported at run time: this module is on exec's and up's fast paths)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

STATE_VERSION = 1


class WorkspaceState:
    """A plain class, not a dataclass: this module is on the ``exec`` and ``up`` fast paths, where every
    generated class (and the ``dataclasses``/``inspect`` import) costs start-up time."""

    def __init__(
        self,
        key: str,  # ${devcontainerId} of the id labels
        id_labels: dict[str, str],
        workspace_folder: str,  # on the host ("" when the workspace is known only by --id-label)
        config_file: str,
        runtime: str,  # "embedded" or "docker"
        container_id: str,
        container_name: str = "",
        created: str = "",  # the container's creation stamp (create-hook markers hold it)
        started: str = "",  # the start the environment below was probed for
        remote_user: str = "root",
        remote_workspace_folder: str = "",
        shell: str = "/bin/sh",
        home: str = "/root",
        env: dict[str, str] | None = None,  # probed user env + remoteEnv: what exec uses
        probed_env: dict[str, str] | None = None,  # the userEnvProbe result alone
        cli_remote_env: dict[str, str] | None = None,  # `up --remote-env`
        # The names the merged remoteEnv sets (a null too): as in the reference, its values win over
        # `exec --remote-env`. None: not known (a state written before devenv remembered them).
        remote_env_keys: list[str] | None = None,
        container_env: dict[str, str] | None = None,
        config_stamp: str = "",  # size and mtime of the config file when env was computed
        shutdown_action: str = "stopContainer",
        image: str = "",
        setup_done: bool = False,  # every due hook ran for `started`
        # What a quick `up` on a ready workspace still runs (valid while config_stamp matches):
        initialize_command: Any = None,  # devcontainer.json's, as JSON
        post_attach: list[list[Any]] | None = None,  # [origin, command as JSON], merged order
        version: int = STATE_VERSION,
    ) -> None:
        self.key = key
        self.id_labels = id_labels
        self.workspace_folder = workspace_folder
        self.config_file = config_file
        self.runtime = runtime
        self.container_id = container_id
        self.container_name = container_name
        self.created = created
        self.started = started
        self.remote_user = remote_user
        self.remote_workspace_folder = remote_workspace_folder
        self.shell = shell
        self.home = home
        self.env = env or {}
        self.probed_env = probed_env or {}
        self.cli_remote_env = cli_remote_env or {}
        self.remote_env_keys = remote_env_keys
        self.container_env = container_env or {}
        self.config_stamp = config_stamp
        self.shutdown_action = shutdown_action
        self.image = image
        self.setup_done = setup_done
        self.initialize_command = initialize_command
        self.post_attach = post_attach or []
        self.version = version

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkspaceState:
        code = cls.__init__.__code__
        known = set(code.co_varnames[1 : code.co_argcount])
        return cls(**{k: v for k, v in data.items() if k in known})


def data_root() -> str:
    """:func:`devenv.paths.data_root` as a string, without importing pathlib (a unit test keeps them equal)."""
    env = os.environ.get("DEVENV_ROOT")
    if env:
        return env
    if os.geteuid() == 0:
        return "/var/lib/devenv"
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(xdg, "devenv")


def workspaces_dir() -> str:
    return os.path.join(data_root(), "workspaces")


def state_dir(key: str) -> str:
    return os.path.join(workspaces_dir(), key)


def lock_path(key: str) -> Path:
    from pathlib import Path

    return Path(state_dir(key)) / "lock"


def config_stamp(config_file: str) -> str:
    try:
        st = os.stat(config_file)
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def load(key: str) -> WorkspaceState | None:
    try:
        with open(os.path.join(state_dir(key), "state.json"), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return None
    try:
        return WorkspaceState.from_json(data)
    except TypeError:
        return None


def save(state: WorkspaceState) -> None:
    from pathlib import Path

    from devenv.fsutil import atomic_write_json

    # (no fsync: a power loss stops the container this describes, which makes the state stale anyway;
    # `up` then does the full set-up again)
    atomic_write_json(Path(state_dir(state.key)) / "state.json", state.to_json(), mode=0o600, sync=False)


def forget(key: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(state_dir(key), "state.json"))


def all_states() -> list[WorkspaceState]:
    found = []
    try:
        names = sorted(os.listdir(workspaces_dir()))
    except OSError:
        return []
    for name in names:
        st = load(name)
        if st is not None:
            found.append(st)
    return found
