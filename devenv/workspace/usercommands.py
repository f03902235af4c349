"""``devenv run-user-commands`` and ``devenv set-up``, as the reference has them.

* ``run-user-commands``: in a workspace's running container, run the lifecycle hooks that are due
  (markers apply, as for ``up``), without creating or starting anything.
* ``set-up``: make any running container (``--container-id``) usable as a dev container: the system
  patches, the user environment and the lifecycle hooks, from the container's ``devcontainer.metadata``
  label plus an optional devcontainer.json. No UID update (the container exists already).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from devenv.errors import WorkspaceError
from devenv.events import NULL, Reporter
from devenv.runtime.base import ContainerStatus
from devenv.workspace.identity import METADATA_LABEL

if TYPE_CHECKING:
    from devenv.workspace.dotfiles import Dotfiles


@dataclass(frozen=True)
class RunUserCommandsOptions:
    workspace_folder: str | None = None
    config: str | None = None
    id_labels: tuple[str, ...] = ()
    runtime: str | None = None
    skip_non_blocking_commands: bool = False
    skip_post_attach: bool = False
    remote_env: tuple[str, ...] = ()
    default_user_env_probe: str = "loginInteractiveShell"
    secrets: Mapping[str, str] = field(default_factory=dict)  # --secrets-file: hooks and dotfiles only
    dotfiles: Dotfiles | None = None  # --dotfiles-repository ...


@dataclass(frozen=True)
class UserCommandsResult:
    container_id: str
    result: str  # "done" or "skipNonBlocking"

    def to_json(self) -> dict[str, Any]:
        return {"outcome": "success", "result": self.result}


def run_user_commands(opts: RunUserCommandsOptions, reporter: Reporter = NULL) -> UserCommandsResult:
    from devenv.fsutil import file_lock
    from devenv.workspace import backends, identity, session, state
    from devenv.workspace.up import UpOptions, find_container, load_config, merged_for_container, resolved_for
    from devenv.workspace.up_args import parse_remote_env

    extra = parse_remote_env(opts.remote_env)
    loaded, labels = load_config(UpOptions(opts.workspace_folder, opts.config, opts.id_labels))
    key = identity.workspace_key(labels)
    with file_lock(state.lock_path(key), timeout=None, what="the workspace"):
        known = state.load(key)
        runtime = backends.open_runtime(opts.runtime or (known.runtime if known else None))
        container = find_container(runtime, labels, known)
        if container is None or container.status is not ContainerStatus.RUNNING:
            raise WorkspaceError("Dev container not found.", remedy="start the workspace first: `devenv up`")
        merged = resolved_for(merged_for_container(container, loaded), container)
        sopts = session.SessionOptions(
            remote_workspace_folder=loaded.workspace.workspace_folder or "",
            default_user_env_probe=opts.default_user_env_probe,
            extra_remote_env=extra,
        )
        s = session.prepare(runtime, container, merged, sopts, reporter)
        hopts = session.HookOptions(False, opts.skip_post_attach, opts.skip_non_blocking_commands)
        outcome = session.run_hooks(runtime, s, merged, hopts, reporter, secrets=opts.secrets, dotfiles=opts.dotfiles)
        return UserCommandsResult(container.id, outcome)


@dataclass(frozen=True)
class SetUpOptions:
    container_id: str
    config: str | None = None
    runtime: str | None = None
    skip_post_create: bool = False
    skip_post_attach: bool = False
    skip_non_blocking_commands: bool = False
    remote_env: tuple[str, ...] = ()
    default_user_env_probe: str = "loginInteractiveShell"
    secrets: Mapping[str, str] = field(default_factory=dict)  # --secrets-file: hooks and dotfiles only
    dotfiles: Dotfiles | None = None  # --dotfiles-repository ...


@dataclass(frozen=True)
class SetUpResult:
    container_id: str
    remote_user: str

    def to_json(self) -> dict[str, Any]:
        return {"outcome": "success", "containerId": self.container_id, "remoteUser": self.remote_user}


def set_up(opts: SetUpOptions, reporter: Reporter = NULL) -> SetUpResult:
    from devenv.config.merge import merge_metadata, parse_metadata_label
    from devenv.workspace import backends, session
    from devenv.workspace.up_args import parse_remote_env

    extra = parse_remote_env(opts.remote_env)
    runtime = backends.open_runtime(opts.runtime)
    container = runtime.get(opts.container_id)
    if container.status is not ContainerStatus.RUNNING:
        raise WorkspaceError(f"container {container.name} is not running", remedy="start it first")
    data: dict[str, Any] = {}
    folder = ""
    if opts.config:
        from devenv.config.loader import load

        loaded = load(None, opts.config)
        data = dict(loaded.data)
        folder = loaded.workspace.workspace_folder or ""
    entries = parse_metadata_label(container.labels.get(METADATA_LABEL))
    from devenv.workspace.up import resolved_for

    merged = resolved_for(merge_metadata(entries, [], data), container)
    sopts = session.SessionOptions(
        remote_workspace_folder=folder,
        update_uid_default="never",
        default_user_env_probe=opts.default_user_env_probe,
        extra_remote_env=extra,
    )
    s = session.prepare(runtime, container, merged, sopts, reporter)
    hopts = session.HookOptions(opts.skip_post_create, opts.skip_post_attach, opts.skip_non_blocking_commands)
    session.run_hooks(runtime, s, merged, hopts, reporter, secrets=opts.secrets, dotfiles=opts.dotfiles)
    return SetUpResult(container.id, s.remote_user)
