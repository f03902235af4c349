"""The contract every container runtime implements (embedded, docker), and the records it keeps.

A container is not a process (containerd container/task, youki ``state.rs``): it is a persisted
record with a status; each verb first refreshes the status from the kernel (or the engine), then
checks the guard (``can_start`` / ``can_stop`` / ``can_delete``) and acts.

This module is the shared vocabulary of runtime/, network/, build/ and workspace/. Extend it (add
fields with defaults) rather than passing backend-specific dicts around.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Literal, Protocol

from devenv.snapshots.base import Mount

NetworkMode = Literal["bridge", "host", "none"]


class ContainerStatus(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"

    def can_start(self) -> bool:
        return self in (ContainerStatus.CREATED, ContainerStatus.STOPPED)

    def can_stop(self) -> bool:
        return self is ContainerStatus.RUNNING

    def can_delete(self, force: bool = False) -> bool:
        return force or self is not ContainerStatus.RUNNING


@dataclass(frozen=True)
class MountSpec:
    """A mount inside the container, from the spec's string/object forms or ``--mount``.

    ``type``: ``bind`` (``source`` is a host path), ``volume`` (``source`` is a devenv volume name;
    empty = anonymous) or ``tmpfs``.
    """

    type: Literal["bind", "volume", "tmpfs"]
    target: str
    source: str = ""
    read_only: bool = False
    options: tuple[str, ...] = ()  # extra options, e.g. "consistency=cached" (ignored), "tmpfs-size=..."


@dataclass(frozen=True)
class PortMapping:
    """``host_ip:host_port -> container_port/protocol``; ``host_port`` 0 = pick a free port.

    With ``host_port`` N: ``require_local_port`` True means exactly N or an error naming N (``appPort``,
    ``-p``); False means N if free, else the next free port above it (``forwardPorts``). A privileged
    host port (below ``net.ipv4.ip_unprivileged_port_start``) is bound only when ``elevate_if_needed``
    or ``require_local_port``; otherwise the search starts at N + 8000 (80 -> 8080).
    ``target_host``: where the forwarder connects, seen from inside the container ("" = the container's
    own localhost; ``forwardPorts`` ``"db:5432"`` gives ``"db"``).
    """

    container_port: int
    host_port: int = 0
    host_ip: str = "127.0.0.1"
    protocol: Literal["tcp", "udp"] = "tcp"
    label: str | None = None
    require_local_port: bool = False
    elevate_if_needed: bool = False
    target_host: str = ""


OnAutoForward = Literal["notify", "openBrowser", "openBrowserOnce", "openPreview", "silent", "ignore"]


@dataclass(frozen=True)
class PortAttributes:
    """One ``portsAttributes`` value (or ``otherPortsAttributes``)."""

    label: str | None = None
    on_auto_forward: OnAutoForward = "notify"
    require_local_port: bool = False
    elevate_if_needed: bool = False
    protocol: Literal["http", "https"] | None = None


@dataclass(frozen=True)
class PortsPolicy:
    """How ports the container starts listening on are treated (auto-forward).

    ``attributes``: ``portsAttributes`` in file order; keys are a port ("3000"), a range ("40000-55000")
    or a regular expression matched against the listening process's command line. ``other`` applies to
    ports no key matches. ``auto_forward``: forward newly listening ports at all (workspaces: True).
    """

    attributes: tuple[tuple[str, PortAttributes], ...] = ()
    other: PortAttributes | None = None
    auto_forward: bool = False


@dataclass(frozen=True)
class Resources:
    memory_bytes: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to create a container. Backends ignore what they cannot express and say so."""

    image: str  # image reference or id as the user knows it (shown by `ls`, resolved by the backend)
    command: tuple[str, ...] = ()  # argv of the main process (entrypoint + cmd already resolved)
    name: str | None = None
    env: tuple[str, ...] = ()  # "KEY=VALUE", image env first then overrides
    user: str = ""  # "" = image default; "name", "uid", "uid:gid", "name:group"
    workdir: str = ""
    hostname: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[MountSpec, ...] = ()
    network: NetworkMode = "bridge"
    ports: tuple[PortMapping, ...] = ()
    ports_policy: PortsPolicy = field(default_factory=PortsPolicy)  # auto-forward (devenv.network)
    init: bool = True  # a reaping, signal-forwarding pid 1 in front of the command
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    resources: Resources = field(default_factory=Resources)
    # Embedded runtime: explicit rootfs layers (lowest first) instead of resolving ``image`` in the store.
    # The builder uses this for RUN steps on top of layers that are not an image yet.
    rootfs: tuple[Mount, ...] = ()
    stop_signal: str = "SIGTERM"
    stop_timeout: float = 10.0


@dataclass
class Container:
    """The persisted record of a container (what ``inspect`` shows)."""

    id: str
    name: str
    spec: ContainerSpec
    status: ContainerStatus
    created: float  # unix time
    pid: int | None = None  # pid 1 of the container, as seen from the host, while running
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    image_id: str | None = None  # digest of the image config it was created from
    ip_address: str | None = None
    ports: tuple[PortMapping, ...] = ()  # the actual host ports, once assigned

    @property
    def labels(self) -> Mapping[str, str]:
        return self.spec.labels


@dataclass(frozen=True)
class ExecSpec:
    argv: tuple[str, ...]
    env: tuple[str, ...] = ()  # added to the container's env ("KEY=VALUE")
    user: str = ""  # "" = the container's user
    workdir: str = ""
    tty: bool = False
    interactive: bool = False  # keep stdin open
    # What the process sees as its argv[0] ("" = argv[0]): "-bash" runs /bin/bash as a login shell, as
    # login(1) and sshd start one. The embedded runtime passes it to execve; the Docker backend ignores it.
    argv0: str = ""


@dataclass
class ExecIO:
    """Where an exec's streams go. ``None`` = inherit the caller's (the CLI passes its own terminal)."""

    stdin: IO[bytes] | None = None
    stdout: IO[bytes] | None = None
    stderr: IO[bytes] | None = None


class Runtime(Protocol):
    """A container runtime. Every method refreshes state from the kernel/engine before acting."""

    name: str

    def create(self, spec: ContainerSpec) -> Container: ...

    def start(self, container_id: str, *, meanwhile: Callable[[], object] | None = None) -> Container:
        """Start the container. ``meanwhile``: the caller's own work, run while the container starts where
        the runtime can overlap the two (its exceptions come after the start)."""
        ...

    def stop(self, container_id: str, timeout: float | None = None) -> Container: ...

    def remove(self, container_id: str, *, force: bool = False, volumes: bool = False) -> None: ...

    def get(self, id_or_name: str) -> Container:
        """Raises ContainerNotFound."""
        ...

    def list(self, labels: Mapping[str, str] | None = None, *, all: bool = True) -> list[Container]: ...

    def exec(self, container_id: str, spec: ExecSpec, io: ExecIO | None = None) -> int:
        """Run a process in the running container; returns its exit code (128+N when killed by signal N)."""
        ...

    def logs(self, container_id: str, *, follow: bool = False) -> Iterator[bytes]: ...
