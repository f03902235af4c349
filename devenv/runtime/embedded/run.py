"""``devenv container run`` / ``create`` as a library call: options → spec → create → start → attach.

Shaped like ``docker run``: the command is the image's entrypoint followed by the given command (or
the image's cmd); ``--entrypoint`` replaces the entrypoint and drops the image's cmd; ``--rootfs``
takes a directory instead of an image. Without ``detach`` the caller is attached (output, stdin with
``interactive``, a raw terminal with ``tty``) and gets the container's exit code; with ``remove`` the
container is gone once it has exited.

This is the whole life of a ``run --rm``, so it works on the plain records of :mod:`.lifecycle` and
imports no dataclass: :func:`run_plain` / :func:`create_plain` give ids and names;
:func:`run` / :func:`create` give the :class:`~devenv.runtime.base.Container` of the library API.
"""

from __future__ import annotations

import os

from devenv.errors import ContainerError
from devenv.runtime.embedded import image_source, lifecycle, specs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.events import Reporter
    from devenv.runtime.base import Container, MountSpec, PortMapping
    from devenv.runtime.embedded.lifecycle import Warn
    from devenv.runtime.embedded.runtime import EmbeddedRuntime
    from devenv.runtime.embedded.specs import RecordDict, SpecDict


class RunOptions:
    """(A plain class, not a dataclass: ``devenv container run`` builds one on its start path.)"""

    def __init__(
        self,
        image: str,
        command: tuple[str, ...] = (),
        entrypoint: str | None = None,  # "" = none; None = the image's
        rootfs: bool = False,  # ``image`` is a directory to use as the root filesystem
        name: str | None = None,
        env: tuple[str, ...] = (),
        user: str = "",
        workdir: str = "",
        hostname: str | None = None,
        labels: dict[str, str] | None = None,
        mounts: tuple[MountSpec, ...] = (),
        network: str = "bridge",
        ports: tuple[PortMapping, ...] = (),
        init: bool = True,
        privileged: bool = False,
        cap_add: tuple[str, ...] = (),
        cap_drop: tuple[str, ...] = (),
        security_opt: tuple[str, ...] = (),
        memory_bytes: int | None = None,
        cpus: float | None = None,
        pids_limit: int | None = None,
        stop_signal: str = "SIGTERM",
        stop_timeout: float = 10.0,
        detach: bool = False,
        interactive: bool = False,
        tty: bool = False,
        remove: bool = False,
    ) -> None:
        self.image = image
        self.command = command
        self.entrypoint = entrypoint
        self.rootfs = rootfs
        self.name = name
        self.env = env
        self.user = user
        self.workdir = workdir
        self.hostname = hostname
        self.labels = labels if labels is not None else {}
        self.mounts = mounts
        self.network = network
        self.ports = ports
        self.init = init
        self.privileged = privileged
        self.cap_add = cap_add
        self.cap_drop = cap_drop
        self.security_opt = security_opt
        self.memory_bytes = memory_bytes
        self.cpus = cpus
        self.pids_limit = pids_limit
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.detach = detach
        self.interactive = interactive
        self.tty = tty
        self.remove = remove

    def __repr__(self) -> str:
        return f"RunOptions({vars(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunOptions) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]


class RunResult:
    def __init__(self, container: Container, exit_code: int | None) -> None:
        self.container = container
        self.exit_code = exit_code  # None when detached


def build_spec(
    opts: RunOptions, data_root: str, reporter: Reporter | None = None
) -> tuple[SpecDict, image_source.ResolvedImage]:
    """The container spec (as a dict) for ``opts`` and the image it resolved to (pulled when missing,
    with progress to ``reporter``)."""
    if opts.rootfs:
        path = os.path.abspath(opts.image)
        if not os.path.isdir(path):
            raise ContainerError(f"--rootfs {opts.image}: not a directory")
        image = image_source.ResolvedImage([path])
    else:
        image = image_source.resolve(data_root, opts.image, reporter=reporter)
    entrypoint = image.entrypoint if opts.entrypoint is None else ([opts.entrypoint] if opts.entrypoint else [])
    cmd = list(opts.command) if opts.command else ([] if opts.entrypoint is not None else image.cmd)
    argv = [*entrypoint, *cmd]
    if not argv:
        raise ContainerError(
            f"no command given and the image {opts.image} has none", remedy="give a command after the image"
        )
    spec = specs.spec_dict(
        path if opts.rootfs else opts.image,
        command=argv,
        name=opts.name,
        env=list(opts.env),
        user=opts.user,
        workdir=opts.workdir,
        hostname=opts.hostname,
        labels=dict(opts.labels),
        mounts=[specs.mount_of(m) for m in opts.mounts],
        network=opts.network,
        ports=[specs.port_of(p) for p in opts.ports],
        init=opts.init,
        privileged=opts.privileged,
        cap_add=list(opts.cap_add),
        cap_drop=list(opts.cap_drop),
        security_opt=list(opts.security_opt),
        memory_bytes=opts.memory_bytes,
        cpus=opts.cpus,
        pids_limit=opts.pids_limit,
        stop_signal=opts.stop_signal,
        stop_timeout=opts.stop_timeout,
    )
    if opts.rootfs:
        spec["rootfs"] = [{"type": "bind", "source": path, "options": ["rbind", "ro"]}]
    return spec, image


def create_plain(
    data_root: str,
    opts: RunOptions,
    *,
    driver: str | None = None,
    warn: Warn | None = None,
    reporter: Reporter | None = None,
    container_id: str | None = None,
) -> RecordDict:
    spec, image = build_spec(opts, data_root, reporter)
    return lifecycle.create(
        data_root,
        spec,
        image,
        tty=opts.tty,
        stdin_open=opts.interactive,
        auto_remove=opts.remove,
        driver=driver,
        warn=warn or lifecycle._ignore,
        container_id=container_id,
    )


def run_plain(
    data_root: str,
    opts: RunOptions,
    *,
    driver: str | None = None,
    supervisor_mode: str = "auto",
    warn: Warn | None = None,
    reporter: Reporter | None = None,
    prestarted: lifecycle.Prestart | None = None,
) -> tuple[RecordDict, int | None]:
    """Create and start; attached unless ``opts.detach``. Returns the record and the exit code (None
    when detached). ``prestarted``: the container's supervisor, spawned already (it is called off if
    the container cannot be created)."""
    warn = warn or lifecycle._ignore
    try:
        cid = prestarted.id if prestarted is not None else None
        record = create_plain(data_root, opts, driver=driver, warn=warn, reporter=reporter, container_id=cid)
    except BaseException:
        if prestarted is not None:
            prestarted.cancel()
        raise
    try:
        if opts.detach:
            lifecycle.start(data_root, record["id"], supervisor_mode=supervisor_mode, warn=warn, prestarted=prestarted)
            return record, None
        from devenv.runtime.embedded import attach, terminal

        size = terminal.get_winsize(0) if opts.tty else None
        _, _, channel = lifecycle.start(
            data_root,
            record["id"],
            attach=True,
            tty_size=size,
            supervisor_mode=supervisor_mode,
            warn=warn,
            prestarted=prestarted,
        )
    except lifecycle.StartFailed:
        if opts.remove:
            _remove_unstarted(data_root, record, warn)
        raise
    assert channel is not None
    return record, attach.relay(channel, tty=opts.tty, stdin_open=opts.interactive)


def _remove_unstarted(data_root: str, record: RecordDict, warn: Warn) -> None:
    """``--rm``: a container that failed to start goes too. Its supervisor removes it as it ends (once it
    has reported the failure), unless it died first (killed): then it is removed here, as ``rm -f``
    would (after that supervisor has ended: the cgroup, the network, the files)."""
    from devenv.errors import ContainerNotFound
    from devenv.runtime.embedded.runtime import EmbeddedRuntime

    try:
        EmbeddedRuntime(data_root).remove(record["id"], force=True, volumes=True)
    except ContainerNotFound:
        pass
    except Exception as exc:
        warn(f"container {record['name']} could not be removed ({exc}): remove it with devenv container rm -f")


def create(rt: EmbeddedRuntime, opts: RunOptions) -> Container:
    record = create_plain(rt.root, opts, driver=rt.rootfs_driver, warn=rt._warn, reporter=rt.reporter)
    return rt.get(record["id"])


def run(rt: EmbeddedRuntime, opts: RunOptions) -> RunResult:
    record, code = run_plain(
        rt.root, opts, driver=rt.rootfs_driver, supervisor_mode=rt.supervisor_mode, warn=rt._warn, reporter=rt.reporter
    )
    if opts.remove and code is not None:
        from devenv.runtime.base import Container, ContainerStatus
        from devenv.runtime.embedded import records

        gone = records.Record.from_dict(dict(record))
        return RunResult(
            Container(gone.id, gone.name, gone.spec, ContainerStatus.STOPPED, gone.created, exit_code=code), code
        )
    return RunResult(rt.get(record["id"]), code)
