"""Create and start, over plain records: the path every container takes, kept cheap to import.

:class:`~devenv.runtime.embedded.runtime.EmbeddedRuntime` (the library API, with ContainerSpec and
Container dataclasses) and the CLI's fast path (``devenv container run``) both call these functions;
they take and return the JSON-shaped dicts of :mod:`.specs`, so that starting a container imports no
dataclass-heavy module. Warnings go to ``warn`` (a callable taking the message).

Creating writes the record (``container.json``) under the containers lock (so a concurrent create sees
the name), prepares the root filesystem and takes a lease on the image. Starting spawns the container's
supervisor with the start's early facts (:mod:`.spawn`: it creates the cgroup, the namespaces and the
network meanwhile), writes ``run.json``, sends the supervisor the configuration and waits until the
command runs (or failed to). ``devenv container run`` spawns the supervisor before it creates the
container (:class:`Prestart`), so that both halves overlap.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from functools import partial

from devenv.errors import ContainerError, ContainerNotFound
from devenv.runtime.embedded import cgroups, layout, netns, plan, seccomp, spawn, state, stream

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable

    from devenv.runtime.embedded.config import RunConfig
    from devenv.runtime.embedded.image_source import ResolvedImage
    from devenv.runtime.embedded.specs import RecordDict, SpecDict

    Warn = Callable[[str], None]


class StartFailed(ContainerError):
    """The container's process could not be started; ``command_exit_code`` is what ``run`` exits with
    (126: cannot be run, 127: not found, 125: the runtime failed), as Docker."""

    def __init__(self, message: str, command_exit_code: int, **kw: str | None) -> None:
        super().__init__(message, **kw)
        self.command_exit_code = command_exit_code


def _ignore(message: str) -> None:
    return None


def default_driver() -> str:
    forced = os.environ.get("DEVENV_ROOTFS_DRIVER", "")
    if forced in ("overlay", "copy"):
        return forced
    try:
        with open("/proc/filesystems") as f:
            return "overlay" if "\toverlay\n" in f.read() else "copy"
    except OSError:
        return "copy"


# -- records ---------------------------------------------------------------------------------------------


def load_record(state_dir: str) -> RecordDict:
    try:
        record: RecordDict = layout.read_json(os.path.join(state_dir, layout.RECORD))
    except FileNotFoundError:
        raise ContainerNotFound(f"no such container: {os.path.basename(state_dir)}") from None
    return record


def save_record(state_dir: str, record: RecordDict, *, sync: bool = True) -> None:
    """Atomic replace; ``sync``: fsync first (a container that must survive a power loss)."""
    layout.write_json(os.path.join(state_dir, layout.RECORD), record, sync=sync)


def name_taken(root: str, name: str) -> bool:
    try:
        layout.find(root, name)
    except ContainerNotFound:
        return False
    return True


def free_name(root: str) -> str:
    from devenv.runtime.embedded.names import random_name

    while True:
        name = random_name()
        if not name_taken(root, name):
            return name


# -- create ----------------------------------------------------------------------------------------------


def create(
    root: str,
    spec: SpecDict,
    image: ResolvedImage,
    *,
    tty: bool = False,
    stdin_open: bool = False,
    auto_remove: bool = False,
    driver: str | None = None,
    warn: Warn = _ignore,
    container_id: str | None = None,
) -> RecordDict:
    """Validate ``spec``, write the record and prepare the root filesystem; returns the record.

    ``image``: what ``spec["image"]`` (or ``spec["rootfs"]``) resolved to; ``tty``/``stdin_open``: the main
    process gets a terminal / an open stdin (an attached client feeds it); ``auto_remove``: removed once it
    exits (``--rm``); ``container_id``: the ID whose directory a :class:`Prestart` made (else a new one).
    """
    try:
        for warning in plan.validate(spec):
            warn(warning)
    except plan.SpecError as exc:
        raise ContainerError(str(exc)) from None
    argv = list(spec["command"]) or [*image.entrypoint, *image.cmd]
    if not argv:
        raise ContainerError(
            f"no command given and the image {spec['image']} has none", remedy="give a command after the image"
        )
    cid = container_id or os.urandom(32).hex()
    d = layout.container_dir(root, cid)
    with layout.locked(os.path.join(layout.containers_dir(root), ".lock")):
        name = spec["name"] or free_name(root)
        if spec["name"] is not None and name_taken(root, spec["name"]):
            raise ContainerError(
                f"the container name {name!r} is already in use",
                remedy=f"remove it first (devenv container rm {name}) or choose another name",
            )
        os.makedirs(d, mode=0o711, exist_ok=container_id is not None)
        # The record goes first (with the name taken) so that a concurrent create sees the name.
        record: RecordDict = {
            "id": cid,
            "name": name,
            "created": time.time(),
            "spec": spec,
            "image_id": image.image_id,
            "rootfs_driver": driver or default_driver(),
            "lower": list(image.lower),
            "anonymous_volumes": [],
            "volumes": {},
            "auto_remove": auto_remove,
            "hostname": spec["hostname"] or cid[:12],
            "tty": tty,
            "stdin_open": stdin_open,
            "argv": argv,
            "env": [*image.env, *spec["env"]],
            "user": spec["user"] or image.user,
            "workdir": spec["workdir"] or image.workdir,
        }
        save_record(d, record, sync=False)  # rewritten (and synced) below unless it is a --rm container
    try:
        _prepare_rootfs(d, record)
        volume_mounts = [m for m in spec["mounts"] if m["type"] == "volume"]
        if volume_mounts:
            from devenv.runtime.embedded import volumes as vols

            for m in volume_mounts:
                vol = vols.ensure(root, m["source"])
                record["volumes"][m["target"]] = vol.name
                if vol.anonymous:
                    record["anonymous_volumes"].append(vol.name)
        if not spec["rootfs"]:
            from devenv.runtime.embedded import image_source

            image_source.lease(root, cid, image, sync=not auto_remove)
        if volume_mounts or not auto_remove:  # a --rm container need not survive a power loss
            save_record(d, record, sync=not auto_remove)
    except BaseException:
        with contextlib.suppress(Exception):
            remove_files(root, d, record, volumes=True, lock=True)
        raise
    return record


def _prepare_rootfs(d: str, record: RecordDict) -> None:
    os.mkdir(os.path.join(d, "rootfs"), 0o755)
    if record["rootfs_driver"] == "overlay":
        os.mkdir(os.path.join(d, "upper"), 0o755)
        os.mkdir(os.path.join(d, "work"), 0o700)
        return
    from pathlib import Path

    from devenv.snapshots.snapshotter import flatten_layer

    for lower in record["lower"]:
        flatten_layer(Path(lower), Path(d) / "rootfs")


def remove_files(root: str, d: str, record: RecordDict, *, volumes: bool, lock: bool) -> None:
    """The container's directory, its image lease, and (``volumes``) its anonymous volumes."""
    from devenv.runtime.embedded import image_source

    image_source.release(root, record["id"])
    layout.remove_container_files(d, record["anonymous_volumes"] if volumes else [], lock=lock)


# -- start -----------------------------------------------------------------------------------------------


def start(
    root: str,
    cid: str,
    *,
    attach: bool = False,
    tty_size: tuple[int, int] | None = None,
    supervisor_mode: str = "auto",
    warn: Warn = _ignore,
    prestarted: Prestart | None = None,
    meanwhile: Callable[[], object] | None = None,
) -> tuple[RecordDict, state.State, stream.Channel | None]:
    """Start the container ``cid`` (a no-op when it runs, unless ``attach``); returns its record, its
    state once the command runs, and with ``attach`` the control channel (output frames, then EXIT).
    ``prestarted``: its supervisor, spawned before the container was created. ``meanwhile``: the caller's
    work, run once the configuration is sent, while the supervisor starts the container (its exception,
    if any, is raised once the container has started)."""
    d = layout.container_dir(root, cid)
    with layout.locked(layout.lock_path(d)):
        record = load_record(d)
        st = state.refreshed(d)
        if st.running():
            if attach:
                raise ContainerError(f"container {record['name']} is already running")
            return record, st, None
        if prestarted is None:
            wait_supervisor_gone(st)
            cleanup_after_crash(d, record)  # a supervisor killed or a reboot left its cgroup behind
            channel = stream.Channel(spawn.spawn(early_facts(root, d, record), supervisor_mode))
        else:
            channel = prestarted.take()
        try:
            cfg = run_config(root, d, record, tty_size, warn)
            with open(os.path.join(d, "run.json"), "w") as f:
                f.write(cfg.to_json())
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # (it died: _await_start says so)
                channel.send(stream.frame(spawn.CONFIG, cfg.to_json().encode()))
            failed = _call(partial(_meanwhile, meanwhile, cfg)) if meanwhile is not None else None
            started = _await_start(channel, record, d)
            if failed is not None:
                raise failed
        except BaseException:
            channel.close()
            raise
        warnings = started.get("warnings")
        for warning in warnings if isinstance(warnings, list) else []:
            warn(str(warning))
        if not attach:
            channel.close()
        st = state.refreshed(d)
    return record, st, (channel if attach else None)


def _meanwhile(work: Callable[[], object], cfg: RunConfig) -> None:
    """The caller's work while its container starts; a caller with work to do goes on to use the
    container: the seccomp program its execs load is compiled now too (once per process, ~2 ms)."""
    work()
    if seccomp.available():
        profile = seccomp.resolve(cfg.seccomp, cfg.caps, cfg.privileged)
        if profile is not None:
            seccomp.program(profile)


def _call(work: Callable[[], object]) -> Exception | None:
    try:
        work()
    except Exception as exc:
        return exc
    return None


def needs_attach(spec: SpecDict) -> bool:
    return netns.needs_attach(spec["network"], spec["ports"], bool(spec["ports_policy"].get("auto_forward")))


def early_facts(root: str, d: str, record: RecordDict) -> spawn.Early:
    spec = record["spec"]
    return spawn.early_facts(
        record["id"],
        d,
        root,
        network=spec["network"],
        ports=list(spec["ports"]),
        ports_policy=dict(spec["ports_policy"]),
        tty=record["tty"],
        stdin_open=record["stdin_open"],
    )


class Prestart:
    """A supervisor spawned before its container exists (:func:`.spawn.prestart`, ``devenv container run``):
    its kernel half (cgroup, namespaces, network) overlaps the creation of the record. Create the container
    with :attr:`id` and hand this to :func:`start`, or :meth:`cancel` it (the supervisor then undoes what
    it did and removes the directory)."""

    def __init__(self, early: spawn.Early, sock: socket.socket) -> None:
        self.early = early
        self.channel: stream.Channel | None = stream.Channel(sock)

    @property
    def id(self) -> str:
        return self.early["id"]

    def take(self) -> stream.Channel:
        assert self.channel is not None, "a prestarted supervisor is used once"
        channel, self.channel = self.channel, None
        return channel

    def cancel(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None


def run_config(root: str, d: str, record: RecordDict, tty_size: tuple[int, int] | None, warn: Warn) -> RunConfig:
    spec = record["spec"]
    volume_paths = {}
    if record["volumes"]:
        from devenv.runtime.embedded import volumes as vols

        for target, vname in record["volumes"].items():
            vol = vols.get(root, vname)
            volume_paths[target] = (vol.path, not any(True for _ in os.scandir(vol.path)))
    layout_ = cgroups.detect()
    cfg, warnings = plan.run_config(
        container_id=record["id"],
        name=record["name"],
        spec=spec,
        state_dir=d,
        argv=record["argv"],
        env=record["env"],
        user=record["user"],
        workdir=record["workdir"],
        hostname=record["hostname"],
        rootfs_driver=record["rootfs_driver"],
        lower=record["lower"],
        mounts=plan.mount_entries(spec, volume_paths),
        device_control=layout_.device_control,
        tty=record["tty"],
        stdin_open=record["stdin_open"],
        auto_remove=record["auto_remove"],
        anonymous_volumes=record["anonymous_volumes"],
        attach_network=needs_attach(spec),
        tty_size=tty_size or (24, 80),
    )
    if record["auto_remove"] and not spec["rootfs"]:
        cfg.release_lease = record["id"]
    for warning in warnings:
        warn(warning)
    return cfg


def _await_start(channel: stream.Channel, record: RecordDict, d: str) -> dict[str, object]:
    while True:
        frame = channel.next()
        if frame is None:
            raise StartFailed(
                f"the supervisor of container {record['name']} exited while starting it",
                125,
                detail=tail(os.path.join(d, "supervisor.log")),
            )
        kind, payload = frame
        if kind == stream.STARTED:
            started: dict[str, object] = json.loads(payload)
            return started
        if kind == stream.ERROR:
            info = json.loads(payload)
            raise StartFailed(
                f"cannot start container {record['name']}: {info.get('error')}", int(info.get("code", 125))
            )


# -- after a supervisor's death ----------------------------------------------------------------------------


def wait_supervisor_gone(st: state.State, timeout: float = 30.0) -> None:
    """A supervisor whose container exited is still cleaning up; wait until it has recorded the exit."""
    if st.supervisor is None or not st.supervisor.alive():
        return
    wait_exit(st.supervisor, timeout)


def cleanup_after_crash(d: str, record: RecordDict) -> None:
    """What the supervisor does when the container exits, done here when it was killed itself."""
    st = state.read(d)
    if st.status != "running" or (st.init is not None and st.init.alive()):
        return
    cg = cgroups.ContainerCgroup(cgroups.detect(), "devenv", record["id"])
    with contextlib.suppress(OSError):
        cg.remove()
    if needs_attach(record["spec"]):
        with contextlib.suppress(Exception):
            netns.detach(record["id"])
    st.status = "stopped"
    st.finished_at = st.finished_at or time.time()
    st.error = st.error or "the container's supervisor was killed; its exit code is unknown"
    state.write(d, st)


def signal_and_wait(ref: state.ProcessRef, sig: int, timeout: float | None) -> bool:
    """Send ``sig`` to ``ref`` (if it is still that process) and wait for it to exit. True if it did."""
    import signal

    try:
        pidfd = os.pidfd_open(ref.pid)
    except ProcessLookupError:
        return True
    try:
        if not ref.alive():
            return True
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, sig)
        return _wait_pidfd(pidfd, timeout)
    finally:
        os.close(pidfd)


def wait_exit(ref: state.ProcessRef, timeout: float | None) -> bool:
    try:
        pidfd = os.pidfd_open(ref.pid)
    except ProcessLookupError:
        return True
    try:
        return True if not ref.alive() else _wait_pidfd(pidfd, timeout)
    finally:
        os.close(pidfd)


def _wait_pidfd(pidfd: int, timeout: float | None) -> bool:
    import select

    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else int(timeout * 1000)))


def tail(path: str, lines: int = 20) -> str | None:
    try:
        with open(path, errors="replace") as f:
            text = f.read()[-4000:]
    except OSError:
        return None
    return "\n".join(text.splitlines()[-lines:]) or None
