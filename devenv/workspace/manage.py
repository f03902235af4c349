"""Managing workspaces: ``stop``, ``down``, ``ls``, ``status``, ``logs``.

A workspace is found from its folder (or ``--id-label``) as ``exec`` finds it; when devenv has no state
for it (state lost, or a container made by another tool with the same labels), the runtime is asked
for a container with the id labels. ``down`` removes the container (and with ``volumes`` its anonymous
volumes) and devenv's state — never anything in the source folder, which is only ever bind-mounted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from devenv.errors import ContainerNotFound, DevenvError, WorkspaceError
from devenv.events import NULL, Reporter
from devenv.runtime.base import Container, ContainerStatus, Runtime
from devenv.workspace import state as states
from devenv.workspace.access import Target, resolve_target
from devenv.workspace.identity import LOCAL_FOLDER_LABEL, workspace_key


@dataclass(frozen=True)
class WorkspaceRef:
    workspace_folder: str | None = None
    config: str | None = None
    id_labels: tuple[str, ...] = ()
    runtime: str | None = None


@dataclass
class Found:
    target: Target
    key: str
    state: states.WorkspaceState | None
    runtime: Runtime
    container: Container | None


def find(ref: WorkspaceRef) -> Found:
    from devenv.workspace.backends import open_runtime
    from devenv.workspace.up import find_container

    target = resolve_target(ref.workspace_folder, ref.config, ref.id_labels)
    key = workspace_key(target.labels)
    st = states.load(key)
    runtime = open_runtime(ref.runtime or (st.runtime if st else None))
    container = find_container(runtime, target.labels, st)
    return Found(target, key, st, runtime, container)


@dataclass(frozen=True)
class StopResult:
    container_id: str | None
    stopped: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"outcome": "success", "containerId": self.container_id, "stopped": self.stopped}


def stop(ref: WorkspaceRef, *, force: bool = False, reporter: Reporter = NULL) -> StopResult:
    """Stop the workspace container, unless its ``shutdownAction`` is ``none`` (then only with ``force``)."""
    from devenv.fsutil import file_lock

    found = find(ref)
    with file_lock(states.lock_path(found.key), timeout=None, what="the workspace"):
        c = found.container
        if c is None:
            return StopResult(None, False, "no container for this workspace")
        action = found.state.shutdown_action if found.state else "stopContainer"
        if action == "none" and not force:
            return StopResult(c.id, False, 'shutdownAction is "none": the container keeps running (--force stops it)')
        if c.status is not ContainerStatus.RUNNING:
            return StopResult(c.id, False, f"container {c.name} is not running")
        reporter.event("workspace.stop", container=c.id, message=f"Stopping container {c.name}")
        found.runtime.stop(c.id)
        return StopResult(c.id, True, f"stopped {c.name}")


@dataclass(frozen=True)
class DownResult:
    container_id: str | None
    removed: bool

    def to_json(self) -> dict[str, Any]:
        return {"outcome": "success", "containerId": self.container_id, "removed": self.removed}


def down(ref: WorkspaceRef, *, volumes: bool = False, reporter: Reporter = NULL) -> DownResult:
    """Stop and remove the workspace container (``volumes``: its anonymous volumes too) and the state."""
    from devenv.fsutil import file_lock

    found = find(ref)
    with file_lock(states.lock_path(found.key), timeout=None, what="the workspace"):
        c = found.container
        removed = False
        if c is not None:
            if c.status is ContainerStatus.RUNNING:
                reporter.event("workspace.stop", container=c.id, message=f"Stopping container {c.name}")
                found.runtime.stop(c.id)
            reporter.event("workspace.remove", container=c.id, message=f"Removing container {c.name}")
            try:
                found.runtime.remove(c.id, force=True, volumes=volumes)
                removed = True
            except ContainerNotFound:
                pass
        states.forget(found.key)
        return DownResult(c.id if c else None, removed)


@dataclass(frozen=True)
class WorkspaceInfo:
    name: str
    workspace_folder: str
    config_file: str
    status: str  # running, stopped, created, missing
    runtime: str
    container_id: str
    image: str
    ports: tuple[str, ...] = ()
    created: float = 0.0
    remote_user: str = ""
    remote_workspace_folder: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "workspaceFolder": self.workspace_folder,
            "configFile": self.config_file,
            "status": self.status,
            "runtime": self.runtime,
            "containerId": self.container_id,
            "image": self.image,
            "ports": list(self.ports),
            "created": self.created,
            "remoteUser": self.remote_user,
            "remoteWorkspaceFolder": self.remote_workspace_folder,
        }


def _ports(c: Container) -> tuple[str, ...]:
    return tuple(f"{p.host_ip or '0.0.0.0'}:{p.host_port}->{p.container_port}/{p.protocol}" for p in c.ports)


def info_of(st: states.WorkspaceState | None, c: Container | None, runtime: str) -> WorkspaceInfo:
    folder = st.workspace_folder if st else (c.labels.get(LOCAL_FOLDER_LABEL, "") if c else "")
    return WorkspaceInfo(
        name=c.name if c else (st.container_name if st else ""),
        workspace_folder=folder,
        config_file=st.config_file if st else "",
        status=c.status.value if c else "missing",
        runtime=runtime,
        container_id=c.id if c else (st.container_id if st else ""),
        image=c.spec.image if c else (st.image if st else ""),
        ports=_ports(c) if c else (),
        created=c.created if c else 0.0,
        remote_user=st.remote_user if st else "",
        remote_workspace_folder=st.remote_workspace_folder if st else "",
    )


def status(ref: WorkspaceRef) -> WorkspaceInfo:
    found = find(ref)
    if found.container is None and found.state is None:
        raise WorkspaceError(
            f"no workspace for {found.target.workspace_folder or found.target.labels}", remedy="create it: `devenv up`"
        )
    return info_of(found.state, found.container, found.runtime.name)


def ls(runtime_names: Sequence[str] | None = None) -> list[WorkspaceInfo]:
    """Every workspace devenv knows (its state) plus containers with workspace labels in the runtimes used."""
    from devenv.workspace.backends import open_runtime

    all_states = states.all_states()
    names = list(runtime_names or sorted({s.runtime for s in all_states} or {"docker"}))
    out: list[WorkspaceInfo] = []
    seen: set[str] = set()
    for name in names:
        try:
            runtime = open_runtime(name)
            containers = runtime.list()
        except DevenvError:  # an unreachable engine must not hide the other runtime's workspaces
            containers = []
        by_id = {c.id: c for c in containers if LOCAL_FOLDER_LABEL in c.labels}
        for st in all_states:
            if st.runtime != name:
                continue
            c = by_id.get(st.container_id)
            out.append(info_of(st, c, name))
            seen.add(st.container_id)
        for c in by_id.values():
            if c.id not in seen:
                out.append(info_of(None, c, name))
    out.sort(key=lambda w: (w.workspace_folder, -w.created))
    return out


def logs(ref: WorkspaceRef, *, follow: bool = False) -> Iterator[bytes]:
    found = find(ref)
    if found.container is None:
        raise WorkspaceError("no container for this workspace", remedy="create it: `devenv up`")
    return found.runtime.logs(found.container.id, follow=follow)


def age(created: float) -> str:
    seconds = max(0, int(time.time() - created))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"
