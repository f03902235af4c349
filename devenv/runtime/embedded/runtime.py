"""devenv's own container runtime: the :class:`~devenv.runtime.base.Runtime` protocol over Linux namespaces.

Each verb is a short function: find the container, take its lock, refresh its state from the kernel,
check the guard, act. Creating writes a record and prepares the root filesystem; starting spawns the
container's supervisor (:mod:`.supervisor`) and waits until the command runs; stopping signals pid 1
and waits; removing deletes everything but volumes and bind-mounted sources.

Extras beyond the protocol, for the CLI and the builder: :meth:`EmbeddedRuntime.start_attached` (the
control channel of ``run``), :meth:`wait`, :meth:`log_records` (stdout and stderr apart),
:meth:`rootfs_changes` (the upper dir after a RUN step) and :meth:`state_dir`.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from devenv.errors import ContainerError, ContainerNotFound
from devenv.events import NULL, Reporter
from devenv.runtime.base import Container, ContainerSpec, ExecIO, ExecSpec
from devenv.runtime.embedded import cgroups, image_source, layout, netns, plan, records, state, stream, supervisor
from devenv.runtime.embedded import volumes as vols
from devenv.runtime.embedded.config import RunConfig
from devenv.runtime.embedded.names import random_name
from devenv.snapshots.base import Mount


class StartFailed(ContainerError):
    """The container's process could not be started; ``command_exit_code`` is what ``run`` exits with
    (126: cannot be run, 127: not found, 125: the runtime failed), as Docker."""

    def __init__(self, message: str, command_exit_code: int, **kw: str | None) -> None:
        super().__init__(message, **kw)
        self.command_exit_code = command_exit_code


@dataclass(frozen=True)
class RootfsChanges:
    """What a container changed in its root filesystem (for the builder's layer commit).

    ``driver`` ``overlay``: ``upper`` is the overlay upper dir (whiteouts as 0/0 character devices,
    opaque dirs with ``trusted.overlay.opaque``); ``copy``: ``upper`` is the whole tree, to diff against
    ``lower``.
    """

    driver: str
    upper: Mount
    lower: tuple[Mount, ...]


def default_driver() -> str:
    forced = os.environ.get("DEVENV_ROOTFS_DRIVER", "")
    if forced in ("overlay", "copy"):
        return forced
    try:
        with open("/proc/filesystems") as f:
            return "overlay" if "\toverlay\n" in f.read() else "copy"
    except OSError:
        return "copy"


class EmbeddedRuntime:
    name = "embedded"

    def __init__(
        self,
        data_root: str | Path | None = None,
        *,
        reporter: Reporter = NULL,
        supervisor_mode: str = "auto",
        rootfs_driver: str | None = None,
    ) -> None:
        if data_root is None:
            from devenv.paths import data_root as default_root

            data_root = default_root()
        self.root = str(data_root)
        self.reporter = reporter
        self.supervisor_mode = supervisor_mode
        self.rootfs_driver = rootfs_driver or default_driver()

    # -- lookup --------------------------------------------------------------------------------------
    def state_dir(self, container_id: str) -> str:
        return layout.container_dir(self.root, container_id)

    def _ids(self) -> list[str]:
        base = layout.containers_dir(self.root)
        if not os.path.isdir(base):
            return []
        return [d for d in os.listdir(base) if not d.startswith(".")]

    def _resolve(self, id_or_name: str) -> str:
        return layout.find(self.root, id_or_name)

    def _load(self, cid: str) -> tuple[records.Record, state.State]:
        d = self.state_dir(cid)
        try:
            return records.load(d), state.refreshed(d)
        except FileNotFoundError:
            raise ContainerNotFound(f"no such container: {cid}") from None

    def get(self, id_or_name: str) -> Container:
        rec, st = self._load(self._resolve(id_or_name))
        return records.to_container(rec, st)

    def list(self, labels: Mapping[str, str] | None = None, *, all: bool = True) -> list[Container]:
        found = []
        for cid in self._ids():
            try:
                rec, st = self._load(cid)
            except (ContainerNotFound, OSError, ValueError, KeyError, TypeError):
                continue  # being created or removed right now
            c = records.to_container(rec, st)
            if labels and any(c.labels.get(k) != v for k, v in labels.items()):
                continue
            if all or st.status == "running":
                found.append(c)
        return sorted(found, key=lambda c: c.created, reverse=True)

    # -- create --------------------------------------------------------------------------------------
    def create(
        self,
        spec: ContainerSpec,
        *,
        tty: bool = False,
        stdin_open: bool = False,
        auto_remove: bool = False,
        image: image_source.ResolvedImage | None = None,
    ) -> Container:
        """Validate, resolve the image, write the record and prepare the root filesystem.

        ``tty``/``stdin_open``: the main process gets a terminal / an open stdin (an attached client
        feeds it); ``auto_remove``: removed once it exits (``--rm``); ``image``: already resolved.
        """
        try:
            for warning in plan.validate(spec):
                self.reporter.event("container.warning", message=warning)
            if spec.rootfs:
                image = image_source.ResolvedImage(
                    image_source.lower_dirs(spec.rootfs), labels=dict(image.labels) if image else {}
                )
            elif image is None:
                image = image_source.from_store(spec.image, reporter=self.reporter)
        except (plan.SpecError, image_source.RootfsError) as exc:
            raise ContainerError(str(exc)) from None
        argv = list(spec.command) or [*image.entrypoint, *image.cmd]
        if not argv:
            raise ContainerError(
                f"no command given and the image {spec.image} has none", remedy="give a command after the image"
            )
        cid = os.urandom(32).hex()
        d = self.state_dir(cid)
        with layout.locked(os.path.join(layout.containers_dir(self.root), ".lock")):
            name = spec.name or self._free_name()
            if spec.name is not None and self._name_taken(spec.name):
                raise ContainerError(
                    f"the container name {spec.name!r} is already in use",
                    remedy=f"remove it first (devenv container rm {spec.name}) or choose another name",
                )
            os.makedirs(d, mode=0o711)
            # The record goes first (with the name taken) so that a concurrent create sees the name.
            rec = records.Record(
                id=cid,
                name=name,
                created=time.time(),
                spec=spec,
                image_id=image.image_id,
                rootfs_driver=self.rootfs_driver,
                lower=image.lower,
                auto_remove=auto_remove,
                hostname=spec.hostname or cid[:12],
                tty=tty,
                stdin_open=stdin_open,
                argv=argv,
                env=[*image.env, *spec.env],
                user=spec.user or image.user,
                workdir=spec.workdir or image.workdir,
            )
            records.save(d, rec, sync=False)  # rewritten (and synced) below
        try:
            self._prepare_rootfs(d, rec)
            for m in spec.mounts:
                if m.type == "volume":
                    vol = vols.ensure(self.root, m.source)
                    rec.volumes[m.target] = vol.name
                    if vol.anonymous:
                        rec.anonymous_volumes.append(vol.name)
            image_source.lease(cid, image)
            records.save(d, rec, sync=not auto_remove)  # a --rm container need not survive a power loss
        except BaseException:
            with contextlib.suppress(Exception):
                layout.remove_container_files(d, rec.anonymous_volumes, lock=True)
            raise
        return records.to_container(rec, state.State())

    def _name_taken(self, name: str) -> bool:
        try:
            self._resolve(name)
        except ContainerNotFound:
            return False
        return True

    def _free_name(self) -> str:
        while True:
            name = random_name()
            if not self._name_taken(name):
                return name

    def _prepare_rootfs(self, d: str, rec: records.Record) -> None:
        os.mkdir(os.path.join(d, "rootfs"), 0o755)
        if rec.rootfs_driver == "overlay":
            os.mkdir(os.path.join(d, "upper"), 0o755)
            os.mkdir(os.path.join(d, "work"), 0o700)
            return
        from devenv.snapshots.snapshotter import flatten_layer

        for lower in rec.lower:
            flatten_layer(Path(lower), Path(d) / "rootfs")

    # -- start ---------------------------------------------------------------------------------------
    def start(self, container_id: str) -> Container:
        return self._start(container_id, attach=False)[0]

    def start_attached(
        self, container_id: str, tty_size: tuple[int, int] | None = None
    ) -> tuple[Container, stream.Channel]:
        """Start and keep the control channel: output frames, then EXIT (see :mod:`.stream`)."""
        container, channel = self._start(container_id, attach=True, tty_size=tty_size)
        assert channel is not None
        return container, channel

    def _start(
        self, id_or_name: str, *, attach: bool, tty_size: tuple[int, int] | None = None
    ) -> tuple[Container, stream.Channel | None]:
        cid = self._resolve(id_or_name)
        d = self.state_dir(cid)
        with layout.locked(layout.lock_path(d)):
            rec, st = self._load(cid)
            if st.running():
                if attach:
                    raise ContainerError(f"container {rec.name} is already running")
                return records.to_container(rec, st), None
            self._wait_supervisor_gone(st)
            self._cleanup_after_crash(d, rec)  # a supervisor killed or a reboot left its cgroup behind
            cfg = self._run_config(d, rec, tty_size)
            layout.write_text(os.path.join(d, "hostname"), rec.hostname + "\n")
            layout.write_text(os.path.join(d, "hosts"), self._hosts_text(rec, None))
            layout.write_text(os.path.join(d, "resolv.conf"), self._resolv_text(rec.spec.network, None))
            with open(os.path.join(d, "run.json"), "w") as f:
                f.write(cfg.to_json())
            channel = stream.Channel(supervisor.spawn(cfg, self.supervisor_mode))
            try:
                started = self._await_start(channel, rec, d)
            except BaseException:
                channel.close()
                raise
            warnings = started.get("warnings")
            for warning in warnings if isinstance(warnings, list) else []:
                self.reporter.event("container.warning", message=str(warning))
            if not attach:
                channel.close()
            rec2, st2 = self._load(cid)
        return records.to_container(rec2, st2), (channel if attach else None)

    def _run_config(self, d: str, rec: records.Record, tty_size: tuple[int, int] | None) -> RunConfig:
        spec = rec.spec
        volume_paths = {}
        for target, vname in rec.volumes.items():
            vol = vols.get(self.root, vname)
            volume_paths[target] = (vol.path, not any(True for _ in os.scandir(vol.path)))
        layout_ = cgroups.detect()
        cfg, warnings = plan.run_config(
            container_id=rec.id,
            name=rec.name,
            spec=spec,
            state_dir=d,
            argv=rec.argv,
            env=rec.env,
            user=rec.user,
            workdir=rec.workdir,
            hostname=rec.hostname,
            rootfs_driver=rec.rootfs_driver,
            lower=rec.lower,
            mounts=plan.mount_entries(spec, volume_paths),
            device_control=layout_.device_control,
            tty=rec.tty,
            stdin_open=rec.stdin_open,
            auto_remove=rec.auto_remove,
            anonymous_volumes=rec.anonymous_volumes,
            attach_network=netns.needs_attach(spec.network, spec.ports, spec.ports_policy.auto_forward),
            tty_size=tty_size or (24, 80),
        )
        for warning in warnings:
            self.reporter.event("container.warning", message=warning)
        return cfg

    def _hosts_text(self, rec: records.Record, ip: str | None) -> str:
        if rec.spec.network == "host":
            with contextlib.suppress(OSError), open("/etc/hosts") as f:
                return f.read()
        return netns.hosts_file(rec.hostname, ip)

    def _resolv_text(self, mode: str, from_network: str | None) -> str:
        if from_network:
            return from_network
        if mode == "host":
            with contextlib.suppress(OSError), open("/etc/resolv.conf") as f:
                return f.read()
        return netns.host_resolv_conf()

    def _await_start(self, channel: stream.Channel, rec: records.Record, d: str) -> dict[str, object]:
        network_error: str | None = None
        while True:
            frame = channel.next()
            if frame is None:
                raise StartFailed(
                    f"the supervisor of container {rec.name} exited while starting it",
                    125,
                    detail=_tail(os.path.join(d, "supervisor.log")),
                )
            kind, payload = frame
            if kind == supervisor.NETNS:
                network_error = self._attach_network(channel, rec, d, stream.parse_int(payload))
            elif kind == stream.STARTED:
                started: dict[str, object] = json.loads(payload)
                return started
            elif kind == stream.ERROR:
                info = json.loads(payload)
                message = network_error or str(info.get("error"))
                raise StartFailed(f"cannot start container {rec.name}: {message}", int(info.get("code", 125)))

    def _attach_network(self, channel: stream.Channel, rec: records.Record, d: str, pid: int) -> str | None:
        try:
            info = netns.attach(rec.id, pid, rec.spec)
        except Exception as exc:  # devenv.network raises NetworkError with the reason
            channel.send(stream.json_frame(supervisor.NETWORK_DONE, {"error": str(exc)}))
            return f"network: {exc}"
        layout.write_text(os.path.join(d, "hosts"), self._hosts_text(rec, info.ip_address))
        layout.write_text(os.path.join(d, "resolv.conf"), self._resolv_text(rec.spec.network, info.resolv_conf))
        channel.send(stream.json_frame(supervisor.NETWORK_DONE, {"ip_address": info.ip_address, "ports": info.ports}))
        return None

    # -- stop / wait ---------------------------------------------------------------------------------
    def stop(self, container_id: str, timeout: float | None = None) -> Container:
        cid = self._resolve(container_id)
        d = self.state_dir(cid)
        with layout.locked(layout.lock_path(d)):
            rec, st = self._load(cid)
            if st.running() and st.init is not None:
                wait = rec.spec.stop_timeout if timeout is None else timeout
                if not _signal_and_wait(st.init, plan.parse_signal(rec.spec.stop_signal), wait):
                    _signal_and_wait(st.init, signal.SIGKILL, 30.0)
            self._wait_supervisor_gone(st)
            self._cleanup_after_crash(d, rec)
            rec, st = self._load(cid)
        return records.to_container(rec, st)

    def _wait_supervisor_gone(self, st: state.State, timeout: float = 30.0) -> None:
        """A supervisor whose container exited is still cleaning up; wait until it has recorded the exit."""
        if st.supervisor is None or not st.supervisor.alive():
            return
        _wait_exit(st.supervisor, timeout)

    def _cleanup_after_crash(self, d: str, rec: records.Record) -> None:
        """What the supervisor does when the container exits, done here when it was killed itself."""
        st = state.read(d)
        if st.status != "running" or (st.init is not None and st.init.alive()):
            return
        cg = cgroups.ContainerCgroup(cgroups.detect(), "devenv", rec.id)
        with contextlib.suppress(OSError):
            cg.remove()
        if netns.needs_attach(rec.spec.network, rec.spec.ports, rec.spec.ports_policy.auto_forward):
            with contextlib.suppress(Exception):
                netns.detach(rec.id)
        st.status = "stopped"
        st.finished_at = st.finished_at or time.time()
        st.error = st.error or "the container's supervisor was killed; its exit code is unknown"
        state.write(d, st)

    def wait(self, container_id: str, timeout: float | None = None) -> int | None:
        """Wait until the container has stopped; its exit code (None when unknown, e.g. never started)."""
        cid = self._resolve(container_id)
        d = self.state_dir(cid)
        st = state.refreshed(d)
        if st.init is not None and st.status == "running" and not _wait_exit(st.init, timeout):
            raise ContainerError(f"container {container_id} still runs after {timeout} s")
        self._wait_supervisor_gone(state.read(d), timeout or 30.0)
        return state.refreshed(d).exit_code

    # -- remove --------------------------------------------------------------------------------------
    def remove(self, container_id: str, *, force: bool = False, volumes: bool = False) -> None:
        cid = self._resolve(container_id)
        d = self.state_dir(cid)
        with layout.locked(layout.lock_path(d)):
            rec, st = self._load(cid)
            if st.running() and st.init is not None:
                if not force:
                    raise ContainerError(
                        f"container {rec.name} is running",
                        remedy=f"stop it first (devenv container stop {rec.name}) or remove it with --force",
                    )
                _signal_and_wait(st.init, signal.SIGKILL, 30.0)
            self._wait_supervisor_gone(st)
            self._cleanup_after_crash(d, rec)
            cg = cgroups.ContainerCgroup(cgroups.detect(), "devenv", rec.id)
            if cg.exists():
                cg.remove()
            if netns.needs_attach(rec.spec.network, rec.spec.ports, rec.spec.ports_policy.auto_forward):
                netns.detach(rec.id)
            if not rec.spec.rootfs:
                with contextlib.suppress(Exception):
                    image_source.release(rec.id)
            anonymous = rec.anonymous_volumes if (volumes or rec.auto_remove) else []
            try:
                layout.remove_container_files(d, anonymous, lock=False)
            except OSError as exc:
                raise ContainerError(f"cannot remove container {rec.name}: {exc}") from None

    def volume_users(self, volume: str) -> builtins.list[str]:
        """Names of the containers that mount ``volume``."""
        users = []
        for cid in self._ids():
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                rec = records.load(self.state_dir(cid))
                if volume in rec.volumes.values():
                    users.append(rec.name)
        return users

    # -- exec, logs, rootfs --------------------------------------------------------------------------
    def exec(self, container_id: str, spec: ExecSpec, io: ExecIO | None = None) -> int:
        from devenv.runtime.embedded import exec as exec_mod

        return exec_mod.run(exec_mod.target(self.state_dir(self._resolve(container_id))), spec, io)

    def log_records(self, container_id: str, *, follow: bool = False) -> Iterator[tuple[int, float, bytes]]:
        """``(stream, time, data)``: stream 1 is stdout, 2 is stderr."""
        d = self.state_dir(self._resolve(container_id))
        try:
            fd = os.open(os.path.join(d, "container.log"), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            offset = 0
            while True:
                found, offset = stream.read_log_records(fd, offset)
                yield from found
                if not follow:
                    return
                if not found:
                    st = state.refreshed(d)
                    if not st.running() and not state.supervisor_alive(st):
                        found, offset = stream.read_log_records(fd, offset)
                        yield from found
                        return
                    time.sleep(0.05)
        finally:
            os.close(fd)

    def logs(self, container_id: str, *, follow: bool = False) -> Iterator[bytes]:
        for _, _, data in self.log_records(container_id, follow=follow):
            yield data

    def rootfs_changes(self, container_id: str) -> RootfsChanges:
        rec, _ = self._load(self._resolve(container_id))
        d = self.state_dir(rec.id)
        lower = tuple(Mount("bind", p, ("rbind", "ro")) for p in rec.lower)
        if rec.rootfs_driver == "overlay":
            return RootfsChanges("overlay", Mount("bind", os.path.join(d, "upper"), ("rbind", "ro")), lower)
        return RootfsChanges("copy", Mount("bind", os.path.join(d, "rootfs"), ("rbind", "ro")), lower)


def _signal_and_wait(ref: state.ProcessRef, sig: int, timeout: float | None) -> bool:
    """Send ``sig`` to ``ref`` (if it is still that process) and wait for it to exit. True if it did."""
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


def _wait_exit(ref: state.ProcessRef, timeout: float | None) -> bool:
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


def _tail(path: str, lines: int = 20) -> str | None:
    try:
        with open(path, errors="replace") as f:
            text = f.read()[-4000:]
    except OSError:
        return None
    return "\n".join(text.splitlines()[-lines:]) or None
