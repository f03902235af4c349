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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devenv import paths

STATE_VERSION = 1


@dataclass
class WorkspaceState:
    key: str  # ${devcontainerId} of the id labels
    id_labels: dict[str, str]
    workspace_folder: str  # on the host ("" when the workspace is known only by --id-label)
    config_file: str
    runtime: str  # "embedded" or "docker"
    container_id: str
    container_name: str = ""
    created: str = ""  # the container's creation stamp (create-hook markers hold it)
    started: str = ""  # the start the environment below was probed for
    remote_user: str = "root"
    remote_workspace_folder: str = ""
    shell: str = "/bin/sh"
    home: str = "/root"
    env: dict[str, str] = field(default_factory=dict)  # probed user env + remoteEnv: what exec uses
    probed_env: dict[str, str] = field(default_factory=dict)  # the userEnvProbe result alone
    cli_remote_env: dict[str, str] = field(default_factory=dict)  # `up --remote-env`
    container_env: dict[str, str] = field(default_factory=dict)
    config_stamp: str = ""  # size and mtime of the config file when env was computed
    shutdown_action: str = "stopContainer"
    image: str = ""
    setup_done: bool = False  # every due hook ran for `started`
    # What a fast `up` on a ready workspace still runs (valid while config_stamp matches):
    initialize_command: Any = None  # devcontainer.json's, as JSON
    post_attach: list[list[Any]] = field(default_factory=list)  # [origin, command as JSON], merged order
    version: int = STATE_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkspaceState:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def workspaces_dir() -> Path:
    return paths.data_root() / "workspaces"


def state_dir(key: str) -> Path:
    return workspaces_dir() / key


def lock_path(key: str) -> Path:
    return state_dir(key) / "lock"


def config_stamp(config_file: str) -> str:
    try:
        st = os.stat(config_file)
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def load(key: str) -> WorkspaceState | None:
    try:
        with open(state_dir(key) / "state.json", encoding="utf-8") as f:
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
    from devenv.fsutil import atomic_write_json

    atomic_write_json(state_dir(state.key) / "state.json", state.to_json(), mode=0o600)


def forget(key: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(state_dir(key) / "state.json")


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
