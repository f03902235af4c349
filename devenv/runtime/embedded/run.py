"""``devenv container run`` / ``create`` as a library call: options → spec → create → start → attach.

Shaped like ``docker run``: the command is the image's entrypoint followed by the given command (or
the image's cmd); ``--entrypoint`` replaces the entrypoint and drops the image's cmd; ``--rootfs``
takes a directory instead of an image. Without ``detach`` the caller is attached (output, stdin with
``interactive``, a raw terminal with ``tty``) and gets the container's exit code; with ``remove`` the
container is gone once it has exited.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from devenv.errors import ContainerError
from devenv.runtime.base import Container, ContainerSpec, MountSpec, NetworkMode, PortMapping, Resources
from devenv.runtime.embedded import attach, image_source, terminal
from devenv.runtime.embedded.runtime import EmbeddedRuntime
from devenv.snapshots.base import Mount


@dataclass
class RunOptions:
    image: str
    command: tuple[str, ...] = ()
    entrypoint: str | None = None  # "" = none; None = the image's
    rootfs: bool = False  # ``image`` is a directory to use as the root filesystem
    name: str | None = None
    env: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    hostname: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    mounts: tuple[MountSpec, ...] = ()
    network: NetworkMode = "bridge"
    ports: tuple[PortMapping, ...] = ()
    init: bool = True
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    memory_bytes: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    stop_signal: str = "SIGTERM"
    stop_timeout: float = 10.0
    detach: bool = False
    interactive: bool = False
    tty: bool = False
    remove: bool = False


@dataclass
class RunResult:
    container: Container
    exit_code: int | None  # None when detached


def build_spec(opts: RunOptions) -> tuple[ContainerSpec, image_source.ResolvedImage]:
    """The ContainerSpec for ``opts`` and the image it resolved to."""
    if opts.rootfs:
        path = os.path.abspath(opts.image)
        if not os.path.isdir(path):
            raise ContainerError(f"--rootfs {opts.image}: not a directory")
        image = image_source.ResolvedImage([path])
        rootfs: tuple[Mount, ...] = (Mount("bind", path, ("rbind", "ro")),)
    else:
        image = image_source.from_store(opts.image)
        rootfs = ()
    entrypoint = image.entrypoint if opts.entrypoint is None else ([opts.entrypoint] if opts.entrypoint else [])
    cmd = list(opts.command) if opts.command else ([] if opts.entrypoint is not None else image.cmd)
    argv = (*entrypoint, *cmd)
    if not argv:
        raise ContainerError(
            f"no command given and the image {opts.image} has none", remedy="give a command after the image"
        )
    spec = ContainerSpec(
        image=path if opts.rootfs else opts.image,
        command=argv,
        name=opts.name,
        env=opts.env,
        user=opts.user,
        workdir=opts.workdir,
        hostname=opts.hostname,
        labels=dict(opts.labels),
        mounts=opts.mounts,
        network=opts.network,
        ports=opts.ports,
        init=opts.init,
        privileged=opts.privileged,
        cap_add=opts.cap_add,
        cap_drop=opts.cap_drop,
        security_opt=opts.security_opt,
        resources=Resources(opts.memory_bytes, opts.cpus, opts.pids_limit),
        rootfs=rootfs,
        stop_signal=opts.stop_signal,
        stop_timeout=opts.stop_timeout,
    )
    return spec, image


def create(rt: EmbeddedRuntime, opts: RunOptions) -> Container:
    spec, image = build_spec(opts)
    return rt.create(spec, tty=opts.tty, stdin_open=opts.interactive, auto_remove=opts.remove, image=image)


def run(rt: EmbeddedRuntime, opts: RunOptions) -> RunResult:
    container = create(rt, opts)
    if opts.detach:
        return RunResult(rt.start(container.id), None)
    size = terminal.get_winsize(0) if opts.tty else None
    container, channel = rt.start_attached(container.id, tty_size=size)
    code = attach.relay(channel, tty=opts.tty, stdin_open=opts.interactive)
    return RunResult(container, code)
