"""The running half of a container's supervisor: relay output to the log and an attached client, take
the client's input, and when pid 1 exits record the exit, clean up, and tell the client.

It runs inside the supervisor right after the start. When the container is still running after a
moment, the supervisor *hands off*: it ``execve``s a fresh, lean interpreter (``python -I -S``) that
imports only this module and :mod:`.stream`, keeping its pid, its child (the container's init) and its
file descriptors, so that an idle container costs as little memory as possible. Everything the exit
needs (cgroups, state, network, auto-remove) is imported only then.

On exit the order is what an attached client (``run`` without ``-d``) waits for, first: the cgroup goes,
the exit is recorded, a ``--rm`` container's files and image lease go, then the client gets EXIT;
detaching the network (a netlink round trip or more) follows, before the supervisor itself exits
(``stop``, ``rm`` and ``start`` wait for that).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import selectors
import socket
import struct
import sys
import termios
import time

from devenv.runtime.embedded import stream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

IDLE_HANDOFF = 1.0  # seconds a container runs before its supervisor sheds the start-up code
ORPHAN_CHECK = 5.0  # how often a running container checks that its record still exists
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from devenv.runtime.embedded.monitor import main_handoff; main_handoff()"  # noqa: E501


class Monitor:
    """``info``: id, state_dir, cgroup_parent, auto_remove, anonymous_volumes, attach_network, data_root,
    release_lease, sys_path; ``st``: the state.json dict (status running); ``outputs``: our read end ->
    STDOUT/STDERR."""

    def __init__(
        self,
        info: dict[str, Any],
        st: dict[str, Any],
        init_pid: int,
        log_fd: int,
        outputs: dict[int, int],
        stdin_w: int = -1,
        master: int = -1,
        ctl: socket.socket | None = None,
        status_fd: int = -1,
        status_buf: bytes = b"",
    ) -> None:
        self.info = info
        self.st = st
        self.init_pid = init_pid
        self.log_fd = log_fd
        self.outputs = outputs
        self.stdin_w = stdin_w
        self.master = master
        self.ctl = ctl
        self.reader = stream.FrameReader()
        self.selector = selectors.DefaultSelector()
        # init's status pipe: its last line is the command's exit code, sent before the kernel tears the
        # container down (pidfd readable): the client gets EXIT that much sooner.
        self.status_fd = status_fd
        self.status_buf = status_buf
        self.exit_code: int | None = None

    # -- client ----------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.ctl is None:
            return
        try:
            self.ctl.sendall(data)
        except OSError:
            self._drop_client()

    def _drop_client(self) -> None:
        if self.ctl is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.ctl)
            self.ctl.close()
            self.ctl = None

    def _client(self) -> None:
        if self.ctl is None:  # dropped earlier in this round of events
            return
        try:
            data = self.ctl.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop_client()
            return
        self._handle(self.reader.feed(data))

    def _handle(self, frames: list[tuple[int, bytes]]) -> None:
        for kind, payload in frames:
            if kind == stream.STDIN:
                target = self.master if self.master >= 0 else self.stdin_w
                if target >= 0:
                    with contextlib.suppress(OSError):
                        _write_all(target, payload)
            elif kind == stream.STDIN_EOF and self.stdin_w >= 0:
                os.close(self.stdin_w)
                self.stdin_w = -1
            elif kind == stream.RESIZE and self.master >= 0:
                rows, cols = stream.parse_resize(payload)
                with contextlib.suppress(OSError):
                    fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            elif kind == stream.SIGNAL:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.init_pid, stream.parse_int(payload))

    # -- output ----------------------------------------------------------------------------------
    def _output(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: the last slave of the pty closed
            if exc.errno != errno.EIO:
                raise
            data = b""
        if not data:
            self._close_output(fd)
            return
        kind = self.outputs[fd]
        os.write(self.log_fd, stream.log_record(kind, time.time(), data))
        self.send(stream.frame(kind, data))

    def _close_output(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(fd)
        self.outputs.pop(fd, None)
        if fd != self.master:
            os.close(fd)

    # -- the loop --------------------------------------------------------------------------------
    def run(self, handoff_after: float | None) -> bool:
        """Relay until pid 1 has exited and the output is drained (False), or, with ``handoff_after``,
        until the container has run quietly that long (True: hand off now)."""
        pidfd = os.pidfd_open(self.init_pid)
        self.selector.register(pidfd, selectors.EVENT_READ, "init")
        for fd in self.outputs:
            self.selector.register(fd, selectors.EVENT_READ, "out")
        if self.ctl is not None:
            self.selector.register(self.ctl, selectors.EVENT_READ, "ctl")
        if self.status_fd >= 0:
            self.selector.register(self.status_fd, selectors.EVENT_READ, "status")
        period = handoff_after or 0.0
        deadline = None if handoff_after is None else time.monotonic() + period
        init_done = self._status(b"")
        drain_until = time.monotonic() + 2.0
        if init_done:
            self.selector.unregister(pidfd)
            self._close_status()
        next_check = time.monotonic() + ORPHAN_CHECK
        try:
            while self.outputs or not init_done:
                if init_done:
                    timeout: float | None = max(0.0, drain_until - time.monotonic())
                    if timeout == 0.0:
                        break
                elif deadline is not None:
                    timeout = max(0.0, deadline - time.monotonic())
                else:
                    timeout = max(0.0, next_check - time.monotonic())
                events = self.selector.select(timeout)
                if deadline is None and not init_done and time.monotonic() >= next_check:
                    self._check_orphan()
                    next_check = time.monotonic() + ORPHAN_CHECK
                if not events and not init_done and deadline is not None and time.monotonic() >= deadline:
                    if self.reader.idle():
                        return True
                    deadline = time.monotonic() + period
                for key, _ in events:
                    if key.data in ("init", "status") and not init_done:
                        if key.data == "status" and not self._status(_read_some(self.status_fd)):
                            continue
                        init_done = True
                        drain_until = time.monotonic() + 2.0
                        self.selector.unregister(pidfd)
                        self._close_status()
                    elif key.data == "out":
                        self._output(int(key.fd))
                    elif key.data == "ctl":
                        self._client()
            for fd in list(self.outputs):
                self._close_output(fd)
            return False
        finally:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(pidfd)
            os.close(pidfd)
            for fd in list(self.outputs):
                with contextlib.suppress(KeyError, ValueError):
                    self.selector.unregister(fd)
            if self.status_fd >= 0:
                with contextlib.suppress(KeyError, ValueError):
                    self.selector.unregister(self.status_fd)
            if self.ctl is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self.selector.unregister(self.ctl)

    def _status(self, data: bytes | None) -> bool:
        """Take what init's status pipe gave (b"" at first: what the supervisor read already); True once
        it reported the exit. EOF without it (init died) closes the pipe: the pidfd tells."""
        if self.status_fd < 0:
            return False
        if data is None:
            self._close_status()
            return False
        self.status_buf += data
        while b"\n" in self.status_buf:
            line, _, self.status_buf = self.status_buf.partition(b"\n")
            with contextlib.suppress(ValueError, TypeError, KeyError):
                self.exit_code = int(json.loads(line)["exit"])
        return self.exit_code is not None

    def _close_status(self) -> None:
        if self.status_fd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(self.status_fd)
            os.close(self.status_fd)
            self.status_fd = -1

    def _check_orphan(self) -> None:
        """A container whose directory was deleted (its data root removed under it, as a test's temporary
        root) can never be stopped or removed by devenv again: end it, so nothing leaks."""
        if not os.path.isdir(self.info["state_dir"]):
            sys.stderr.write(f"the directory of container {self.info['id']} is gone: stopping it\n")
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, 9)

    # -- hand-off --------------------------------------------------------------------------------
    def handoff(self) -> NoReturn:
        """Re-execute as a lean interpreter running this monitor, keeping pid, child and descriptors."""
        keep = [self.log_fd, *self.outputs, self.stdin_w, self.master, self.status_fd]
        ctl_fd = self.ctl.fileno() if self.ctl is not None else -1
        for fd in [*keep, ctl_fd]:
            if fd >= 0:
                os.set_inheritable(fd, True)
        blob = {
            "info": self.info,
            "st": self.st,
            "init_pid": self.init_pid,
            "log_fd": self.log_fd,
            "outputs": {str(k): v for k, v in self.outputs.items()},
            "stdin_w": self.stdin_w,
            "master": self.master,
            "ctl": ctl_fd,
            "status_fd": self.status_fd,
            "status_buf": self.status_buf.decode(errors="replace"),
        }
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        try:
            os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", _BOOT, root, json.dumps(blob)])
        except OSError as exc:  # keep supervising in this process rather than lose the container
            sys.stderr.write(f"hand-off to a lean monitor failed ({exc}); staying as I am\n")
            self.run(None)
            self.finish()

    # -- exit ------------------------------------------------------------------------------------
    def finish(self) -> NoReturn:
        self._close_status()
        code = self.exit_code if self.exit_code is not None else self._reap_init()
        for fd in (self.master, self.stdin_w):
            if fd >= 0:
                os.close(fd)
        self.st.update(status="stopped", exit_code=code, finished_at=time.time())
        trash = None
        if self.info.get("auto_remove"):
            trash = auto_remove(self.info, delete=False)
        else:
            with contextlib.suppress(FileNotFoundError):  # (an orphan's directory is gone)
                write_state(self.info["state_dir"], self.st)
        self.send(stream.int_frame(stream.EXIT, code))
        self._drop_client()
        # What the client need not wait for (stop, rm and start wait for this process to exit):
        if self.exit_code is not None:
            self._reap_init()
        remove_cgroup(self.info)
        detach_network(self.info)
        if trash is not None:
            from devenv.runtime.embedded import layout

            layout.delete_tree(trash)
        os._exit(0)

    def _reap_init(self) -> int:
        while True:
            try:
                _, status = os.waitpid(self.init_pid, 0)
                break
            except InterruptedError:
                continue
        return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _read_some(fd: int) -> bytes | None:
    """What a pipe has (None at EOF or on an error)."""
    try:
        return os.read(fd, 4096) or None
    except BlockingIOError:
        return b""
    except OSError:
        return None


def extend_path(paths: list[str]) -> None:
    """Make the starter's import path (site-packages: the network code's libraries) available to this
    lean interpreter (``-I -S``), after what it has."""
    for entry in paths:
        if entry and entry not in sys.path:
            sys.path.append(entry)


def write_state(state_dir: str, st: dict[str, Any]) -> None:
    from devenv.runtime.embedded import state

    state.write(state_dir, state.State.from_dict(dict(st)))


def cleanup(info: dict[str, Any]) -> None:
    """After pid 1 exited: remove the cgroup, detach the network (each failure logged, not fatal)."""
    remove_cgroup(info)
    detach_network(info)


def remove_cgroup(info: dict[str, Any]) -> None:
    from devenv.runtime.embedded import cgroups

    try:
        cgroups.ContainerCgroup(cgroups.detect(), info["cgroup_parent"], info["id"]).remove()
    except OSError as exc:
        sys.stderr.write(f"cleanup of {info['id']}: cgroup: {exc}\n")


def detach_network(info: dict[str, Any]) -> None:
    if not info.get("attach_network"):
        return
    try:
        extend_path(info.get("sys_path") or [])
        from devenv.runtime.embedded import netns

        netns.detach(info["id"], data_root=info.get("data_root") or None, sys_path=info.get("sys_path"))
    except Exception as exc:
        sys.stderr.write(f"cleanup of {info['id']}: network: {exc}\n")


def auto_remove(info: dict[str, Any], *, delete: bool = True) -> str | None:
    """A ``--rm`` container: its image lease, anonymous volumes and directory. Without ``delete`` the
    directory is only retired (renamed out of view); its path is returned for the caller to delete."""
    if not info.get("auto_remove"):
        return None
    try:
        from devenv.runtime.embedded import layout

        if info.get("release_lease") and info.get("data_root"):
            from devenv.runtime.embedded import image_source

            image_source.release(info["data_root"], info["release_lease"])
        trash = layout.retire_container_files(info["state_dir"], info.get("anonymous_volumes") or [], lock=True)
        if delete and trash is not None:
            layout.delete_tree(trash)
            return None
        return trash
    except Exception as exc:
        sys.stderr.write(f"auto-remove of {info['id']} failed: {exc}\n")
        return None


COMM = "devenv-sup"


def main_handoff() -> NoReturn:  # pragma: no cover - runs in the re-executed interpreter
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as f:
        f.write(COMM)
    blob = json.loads(sys.argv[2])
    ctl = socket.socket(fileno=blob["ctl"]) if blob["ctl"] >= 0 else None
    outputs = {int(k): int(v) for k, v in blob["outputs"].items()}
    for fd in [blob["log_fd"], *outputs, blob["stdin_w"], blob["master"], blob["ctl"], blob["status_fd"]]:
        if fd >= 0:
            os.set_inheritable(fd, False)
    mon = Monitor(
        blob["info"],
        blob["st"],
        blob["init_pid"],
        blob["log_fd"],
        outputs,
        blob["stdin_w"],
        blob["master"],
        ctl,
        blob["status_fd"],
        blob["status_buf"].encode(),
    )
    try:
        mon.run(None)
    except BaseException:
        import traceback

        traceback.print_exc()
    mon.finish()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
