"""The per-container supervisor (like conmon): the parent of the container's pid 1, outside of it.

Spawned by :mod:`.spawn` with the early facts of a start, it creates the container's cgroup, forks the
container's init into a new pid namespace and, while the init creates its namespaces and joins the
cgroup, attaches the network (:mod:`.netns`, through the network agent). Then it takes the complete
configuration from the caller (a CONFIG frame), applies the cgroup limits, writes the container's
/etc/hostname, /etc/hosts and /etc/resolv.conf, and hands the configuration to the init, which mounts
the container's filesystem and starts the command. From then on it records the state (running, then
stopped with the exit code), captures stdout and stderr to the container log, serves an attached
client (``run`` without ``-d``: output, stdin, window size, signals) and, when pid 1 exits, removes
the cgroup (and the container with ``--rm``). It runs in a session of its own, so it outlives the
caller.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time

from devenv.runtime.embedded import cgroups, init, layout, monitor, netns, seccomp, state, stream
from devenv.runtime.embedded.config import RunConfig
from devenv.runtime.embedded.spawn import CONFIG
from devenv.runtime.embedded.syscalls import CLONE_NEWPID, fork_into_cgroup, real

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from devenv.runtime.embedded.spawn import Early


def main_from_exec() -> NoReturn:  # pragma: no cover - runs in the re-executed interpreter
    if os.fork() != 0:
        os._exit(0)
    early, fd = json.loads(sys.argv[2]), int(sys.argv[3])
    try:
        monitor.extend_path(early.get("sys_path") or [])
        run(early, socket.socket(fileno=fd))
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(1)


class _Lines:
    """JSON lines from init's status pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def next(self) -> dict[str, object] | None:
        while b"\n" not in self.buf:
            data = os.read(self.fd, 4096)
            if not data:
                return None
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        obj = json.loads(line)
        return obj if isinstance(obj, dict) else None


def run(early: Early, ctl: socket.socket) -> NoReturn:
    """The supervisor's body. Never returns."""
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as f:
        f.write(monitor.COMM)
    Supervisor(early, ctl).run()


class _Aborted(Exception):
    """The caller closed the control socket before sending the configuration (the start is called off,
    or the caller is gone)."""


class Supervisor:
    def __init__(self, early: Early, ctl: socket.socket) -> None:
        self.early = early
        self.cfg: RunConfig | None = None
        self.ctl: socket.socket | None = ctl
        self.sys = real()
        self.cgroup = cgroups.ContainerCgroup(cgroups.detect(), early["cgroup_parent"], early["id"])
        self.st = state.State(status="created", supervisor=state.ProcessRef.of(os.getpid()))
        log = os.path.join(early["state_dir"], "container.log")
        self.log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.init_pid = 0
        self.outputs: dict[int, int] = {}  # fd -> stream (STDOUT/STDERR)
        self.stdin_w = -1
        self.master = -1
        self.reader = stream.FrameReader()
        self.network_attached = False
        self.early_frames: list[tuple[int, bytes]] = []  # client frames that came with the configuration
        self.config_received = False  # the CONFIG frame came (even if it could not be read)
        self.status_fd = -1  # init's status pipe, once the command runs (its exit line comes on it)
        self.status_buf = b""

    # -- control socket ------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self.ctl is None:
            return
        try:
            self.ctl.sendall(data)
        except OSError:
            self._drop_client()

    def _drop_client(self) -> None:
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None

    def _receive_config(self) -> RunConfig:
        """The caller's CONFIG frame (frames that come with it are kept for the monitor)."""
        pending: list[tuple[int, bytes]] = []
        while self.ctl is not None:
            try:
                data = self.ctl.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            config = None
            for kind, payload in self.reader.feed(data):
                if kind == CONFIG and config is None:
                    config = payload
                else:
                    pending.append((kind, payload))
            if config is not None:
                self.config_received = True
                self.early_frames = pending
                return RunConfig.from_json(config.decode())
        raise _Aborted()

    # -- start ---------------------------------------------------------------------------------
    def run(self) -> NoReturn:
        try:
            exit_code = self._start()
        except _Aborted:
            self._abort()
        except BaseException as exc:  # report to the starter; never leave the cgroup behind
            import traceback

            traceback.print_exc()
            self._failed(f"container supervisor failed: {exc}", 125)
        if exit_code is not None:
            self._failed(self.st.error or "the container failed to start", exit_code)
        self._monitor()

    def _start(self) -> int | None:
        early = self.early
        net_fd, pending = self._attach_early()
        self.cgroup.create_dirs()
        seccomp.available()  # load libseccomp from the host now: the container's root will not have it
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        fds = init.InitFds(status_w, go_r)
        pty_ours = -1
        if early["tty"]:
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            pty_ours, fds.pty_sock = a.detach(), b.detach()
        else:
            out_r, fds.stdout = os.pipe2(os.O_CLOEXEC)
            err_r, fds.stderr = os.pipe2(os.O_CLOEXEC)
            self.outputs = {out_r: stream.STDOUT, err_r: stream.STDERR}
            if early["stdin_open"]:
                fds.stdin, self.stdin_w = os.pipe2(os.O_CLOEXEC)
        own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        cgroup_fd = self.cgroup.open_v2()
        self.sys.unshare(CLONE_NEWPID)
        pid, in_v2 = _fork_init(cgroup_fd)
        if pid == 0:  # pragma: no cover - the container's init
            keep = {fds.status_w, fds.go_r, fds.pty_sock, fds.stdin, fds.stdout, fds.stderr}
            for fd in (status_r, go_w, pty_ours, self.stdin_w, self.log_fd, own_pid_ns, *self.outputs):
                if fd >= 0 and fd not in keep:
                    os.close(fd)
            if self.ctl is not None:
                self.ctl.close()
            init.main(self.sys, early["network"], self.cgroup, fds, joined_v2=in_v2, netns_fd=net_fd)
        self.init_pid = pid
        if cgroup_fd >= 0:
            os.close(cgroup_fd)
        self.sys.setns(own_pid_ns, CLONE_NEWPID)
        os.close(own_pid_ns)
        for fd in (fds.status_w, fds.go_r, fds.pty_sock, fds.stdin, fds.stdout, fds.stderr):
            if fd >= 0:
                os.close(fd)
        lines = _Lines(status_r)
        msg = lines.next()
        if msg is None or "error" in msg:
            os.close(go_w)
            return self._start_failed(msg)
        network_info = self._network(pending) if early["attach_network"] else netns.NetworkInfo()
        if net_fd >= 0:
            os.close(net_fd)
        cfg = self.cfg = self._receive_config()
        if network_info is None:  # (the attach failed: reported once the caller is listening for the outcome)
            os.close(go_w)
            self._kill_init()
            return 125
        self.cgroup.apply_limits(cfg.limits, privileged=cfg.privileged)
        self._write_etc(cfg, network_info)
        with contextlib.suppress(BrokenPipeError):  # (the init failed: its status line says why)
            _write_all(go_w, cfg.to_json().encode())
        os.close(go_w)
        if cfg.tty:
            self.master = self._receive_master(pty_ours)
        msg = lines.next()
        if cfg.init and msg is not None and "started" in msg:  # init reports the exit on it too (monitor)
            self.status_fd, self.status_buf = status_r, lines.buf
        else:
            os.close(status_r)
        if msg is not None and "error" in msg:
            return self._start_failed(msg)
        if msg is None and cfg.init:  # init died without a word
            return self._start_failed(None)
        self.st.status = "running"
        self.st.init = state.ProcessRef.of(pid)
        self.st.started_at = time.time()
        self.st.error = None
        state.write(cfg.state_dir, self.st)
        self.send(stream.json_frame(stream.STARTED, {"pid": pid, "warnings": self.cgroup.warnings}))
        return None

    def _attach_early(self) -> tuple[int, netns.Pending | None]:
        """For a bridge without ports to forward: the container's network namespace, made here before
        its init exists, and its attach sent to the network agent at once, so that the agent's work
        overlaps the cgroup, the init and its namespaces (the init enters that namespace). (-1, None)
        otherwise, or when no agent runs yet: the init makes its namespace, attached once it exists."""
        early = self.early
        if early["network"] != "bridge" or early["ports"] or early["ports_policy"].get("auto_forward"):
            return -1, None
        try:
            fd = netns.new_namespace(self.sys)
        except OSError:
            return -1, None
        where = f"/proc/{os.getpid()}/fd/{fd}"
        return fd, netns.attach_early(early["id"], where, "bridge", data_root=early["data_root"], redo=self._attach)

    def _attach(self) -> netns.NetworkInfo:
        early = self.early
        return netns.attach(
            early["id"],
            self.init_pid,
            early["network"],
            early["ports"],
            early["ports_policy"],
            data_root=early["data_root"],
            sys_path=early["sys_path"],
        )

    def _network(self, pending: netns.Pending | None) -> netns.NetworkInfo | None:
        """Attach the container's network namespace (its init waits); None when that failed."""
        try:
            info = pending.result() if pending is not None else self._attach()
        except Exception as exc:  # devenv.network raises NetworkError with the reason
            self.st.error = f"network: {exc}"
            return None
        self.network_attached = True
        self.st.ip_address = info.ip_address
        self.st.ports = info.ports
        return info

    def _write_etc(self, cfg: RunConfig, info: netns.NetworkInfo) -> None:
        """The files bind-mounted onto the container's /etc/hostname, /etc/hosts and /etc/resolv.conf
        (rewritten in place: a running container's exec sees the same inodes)."""
        d = cfg.state_dir
        layout.write_text(os.path.join(d, "hostname"), cfg.hostname + "\n")
        if cfg.network == "host":
            hosts = _read("/etc/hosts") or netns.hosts_file(cfg.hostname, None)
            resolv = _read("/etc/resolv.conf") or ""
        else:
            hosts = netns.hosts_file(cfg.hostname, info.ip_address)
            resolv = info.resolv_conf or netns.host_resolv_conf()
        layout.write_text(os.path.join(d, "hosts"), hosts)
        layout.write_text(os.path.join(d, "resolv.conf"), info.resolv_conf if info.resolv_conf else resolv)

    def _receive_master(self, sock_fd: int) -> int:
        sock = socket.socket(fileno=sock_fd)
        try:
            _, fds, _, _ = socket.recv_fds(sock, 16, 1)
        finally:
            sock.close()
        if not fds:
            return -1
        os.set_blocking(fds[0], False)
        self.outputs = {fds[0]: stream.STDOUT}
        return fds[0]

    def _start_failed(self, msg: dict[str, object] | None) -> int:
        code = 125
        if msg is not None:
            self.st.error = str(msg.get("error"))
            code = int(msg.get("code", 125))  # type: ignore[call-overload]
        else:
            self.st.error = "the container's init exited during setup (see supervisor.log)"
        self._kill_init()
        return code

    def _kill_init(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.init_pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.init_pid, 0)

    def _failed(self, message: str, code: int) -> NoReturn:
        """The start failed: undo the kernel half, record the failure, tell the caller, and remove a
        ``--rm`` container. A failure before the configuration came waits for it first: whether the
        container goes with ``--rm`` is in it (and in the record, which may not exist yet), and the
        caller listens for the outcome only once it has sent it."""
        with contextlib.suppress(Exception):
            if self.init_pid:
                self._kill_init()
            monitor.cleanup(self._info())
        self.st.status = "stopped"
        self.st.error = message
        self.st.exit_code = code
        self.st.finished_at = time.time()
        with contextlib.suppress(OSError):
            state.write(self.early["state_dir"], self.st)
        if not self.config_received:
            try:
                self.cfg = self._receive_config()
            except _Aborted:
                self._dispose()
            except Exception:  # (a configuration it cannot read: the record tells)
                import traceback

                traceback.print_exc()
        self.send(stream.json_frame(stream.ERROR, {"error": message, "code": code}))
        self._drop_client()  # (the caller goes on at once: a --rm container is removed under its lock)
        monitor.auto_remove(self._info())
        os._exit(0)

    def _abort(self) -> NoReturn:
        """The caller called the start off (it failed to create the container or to configure it, or
        went away): undo the kernel half, then :meth:`_dispose` of the container."""
        with contextlib.suppress(Exception):
            if self.init_pid:
                self._kill_init()
            monitor.remove_cgroup(self._info())
            if self.network_attached:
                monitor.detach_network(self._info())
        self._dispose()

    def _dispose(self) -> NoReturn:
        """The caller is gone before the start was configured: a directory that never got a record goes
        (the caller never created the container, or removed it), and so does a ``--rm`` container; any
        other stays (``created``, or ``stopped`` with the error of a failed start)."""
        d = self.early["state_dir"]
        if not os.path.exists(os.path.join(d, layout.RECORD)):
            import shutil

            shutil.rmtree(d, ignore_errors=True)
        else:
            monitor.auto_remove(self._info())
        os._exit(0)

    def _info(self) -> dict[str, Any]:
        early, cfg = self.early, self.cfg
        info: dict[str, Any] = {
            "id": early["id"],
            "state_dir": early["state_dir"],
            "cgroup_parent": early["cgroup_parent"],
            "auto_remove": False,
            "anonymous_volumes": [],
            "attach_network": early["attach_network"],
            "data_root": early["data_root"],
            "release_lease": "",
            "sys_path": early["sys_path"],
        }
        if cfg is not None:
            info.update(
                auto_remove=cfg.auto_remove, anonymous_volumes=cfg.anonymous_volumes, release_lease=cfg.release_lease
            )
        else:  # (no configuration: what the record says, if there is one yet)
            info.update(_removal_facts(early["state_dir"]))
        return info

    def _monitor(self) -> NoReturn:
        import gc

        gc.enable()  # (a CLI that forked this process may have turned it off for its short life)
        mon = monitor.Monitor(
            self._info(),
            json.loads(self.st.to_json()),
            self.init_pid,
            self.log_fd,
            self.outputs,
            self.stdin_w,
            self.master,
            self.ctl,
            self.status_fd,
            self.status_buf,
        )
        mon.reader = self.reader
        mon._handle(self.early_frames)
        if mon.run(handoff_after=monitor.IDLE_HANDOFF):
            mon.handoff()
        mon.finish()


def _removal_facts(state_dir: str) -> dict[str, Any]:
    """What removing a ``--rm`` container needs, from its record (as :func:`.lifecycle.run_config` puts
    it in the configuration); nothing to remove without a record."""
    try:
        record = layout.read_json(os.path.join(state_dir, layout.RECORD))
        auto = bool(record["auto_remove"])
        rootfs = bool(record["spec"].get("rootfs"))
        return {
            "auto_remove": auto,
            "anonymous_volumes": list(record.get("anonymous_volumes") or []),
            "release_lease": record["id"] if auto and not rootfs else "",
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _fork_init(cgroup_fd: int) -> tuple[int, bool]:
    """Fork, into the container's v2 cgroup when there is one and the kernel can (see cgroups); returns
    the pid (0 in the child) and whether the child is in that cgroup already."""
    if cgroup_fd >= 0:
        try:
            return fork_into_cgroup(cgroup_fd), True
        except OSError:
            pass
    return os.fork(), cgroup_fd < 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None
