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
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from devenv.errors import ContainerError, ContainerNotFound
from devenv.events import NULL, Reporter
from devenv.runtime.base import Container, ContainerSpec, ExecIO, ExecSpec
from devenv.runtime.embedded import cgroups, image_source, layout, lifecycle, netns, plan, records, specs, state, stream
from devenv.runtime.embedded.lifecycle import StartFailed, default_driver
from devenv.snapshots.base import Mount

__all__ = ["EmbeddedRuntime", "RootfsChanges", "StartFailed", "default_driver"]


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
    def _warn(self, message: str) -> None:
        self.reporter.event("container.warning", message=message)

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
        raw = specs.from_spec(spec)
        try:
            plan.validate(raw)  # before the image is pulled (warnings come from lifecycle.create)
            if spec.rootfs:
                image = image_source.ResolvedImage(
                    image_source.lower_dirs(spec.rootfs), labels=dict(image.labels) if image else {}
                )
            elif image is None:
                image = image_source.resolve(self.root, spec.image, reporter=self.reporter)
        except (plan.SpecError, image_source.RootfsError) as exc:
            raise ContainerError(str(exc)) from None
        record = lifecycle.create(
            self.root,
            raw,
            image,
            tty=tty,
            stdin_open=stdin_open,
            auto_remove=auto_remove,
            driver=self.rootfs_driver,
            warn=self._warn,
        )
        return records.to_container(records.Record.from_dict(dict(record)), state.State())

    # -- start ---------------------------------------------------------------------------------------
    def start(self, container_id: str, *, meanwhile: Callable[[], object] | None = None) -> Container:
        return self._start(container_id, attach=False, meanwhile=meanwhile)[0]

    def start_attached(
        self, container_id: str, tty_size: tuple[int, int] | None = None
    ) -> tuple[Container, stream.Channel]:
        """Start and keep the control channel: output frames, then EXIT (see :mod:`.stream`)."""
        container, channel = self._start(container_id, attach=True, tty_size=tty_size)
        assert channel is not None
        return container, channel

    def _start(
        self,
        id_or_name: str,
        *,
        attach: bool,
        tty_size: tuple[int, int] | None = None,
        meanwhile: Callable[[], object] | None = None,
    ) -> tuple[Container, stream.Channel | None]:
        record, st, channel = lifecycle.start(
            self.root,
            self._resolve(id_or_name),
            attach=attach,
            tty_size=tty_size,
            supervisor_mode=self.supervisor_mode,
            warn=self._warn,
            meanwhile=meanwhile,
        )
        return records.to_container(records.Record.from_dict(dict(record)), st), channel

    # -- stop / wait ---------------------------------------------------------------------------------
    def stop(self, container_id: str, timeout: float | None = None) -> Container:
        cid = self._resolve(container_id)
        d = self.state_dir(cid)
        with layout.locked(layout.lock_path(d)):
            rec, st = self._load(cid)
            if st.running() and st.init is not None:
                wait = rec.spec.stop_timeout if timeout is None else timeout
                if not lifecycle.signal_and_wait(st.init, plan.parse_signal(rec.spec.stop_signal), wait):
                    lifecycle.signal_and_wait(st.init, signal.SIGKILL, 30.0)
        # (without the lock: the supervisor of a --rm container takes it to remove the container)
        lifecycle.wait_supervisor_gone(st)
        with layout.locked(layout.lock_path(d)):
            try:
                lifecycle.cleanup_after_crash(d, records.load_raw(d))
                rec, st = self._load(cid)
            except FileNotFoundError:  # a --rm container: removed by its supervisor
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(layout.lock_path(d))  # (made again by this lock)
                st = state.State(status="stopped")
        return records.to_container(rec, st)

    def wait(self, container_id: str, timeout: float | None = None) -> int | None:
        """Wait until the container has stopped; its exit code (None when unknown, e.g. never started)."""
        cid = self._resolve(container_id)
        d = self.state_dir(cid)
        st = state.refreshed(d)
        if st.init is not None and st.status == "running" and not lifecycle.wait_exit(st.init, timeout):
            raise ContainerError(f"container {container_id} still runs after {timeout} s")
        lifecycle.wait_supervisor_gone(state.read(d), timeout or 30.0)
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
                lifecycle.signal_and_wait(st.init, signal.SIGKILL, 30.0)
        # (without the lock: the supervisor of a --rm container takes it to remove the container)
        lifecycle.wait_supervisor_gone(st)
        with layout.locked(layout.lock_path(d)):
            try:
                raw = records.load_raw(d)
            except FileNotFoundError:  # a --rm container: removed by its supervisor
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(layout.lock_path(d))  # (made again by this lock)
                return
            lifecycle.cleanup_after_crash(d, raw)
            cg = cgroups.ContainerCgroup(cgroups.detect(), "devenv", rec.id)
            if cg.exists():
                cg.remove()
            if lifecycle.needs_attach(raw["spec"]):
                from devenv import network

                if network.get(rec.id) is not None:  # (its supervisor detaches it when the container stops)
                    netns.detach(rec.id, data_root=self.root)
            try:
                lifecycle.remove_files(self.root, d, raw, volumes=volumes or rec.auto_remove, lock=False)
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
