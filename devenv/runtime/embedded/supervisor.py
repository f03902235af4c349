"""The per-container supervisor (like conmon): the parent of the container's pid 1, outside of it.

It creates the container's cgroup, forks the container's init into a new pid namespace, attaches the
container's network namespace (:mod:`devenv.network`, through :mod:`.netns`) while the init sets up
its namespaces, records the state (running, then stopped with the exit code), captures stdout and
stderr to the container log, serves an attached client (``run`` without ``-d``: output, stdin, window
size, signals) and, when pid 1 exits, removes the cgroup (and the container with ``--rm``). It runs
in a session of its own, so it outlives the CLI that started it.

It is spawned by :func:`spawn`: forked from the caller when that is cheap and safe (a small,
single-threaded process such as the CLI's fast path), else re-executed as ``python -I -S`` with only
the standard library and this package's small runtime modules imported (idle memory matters: one
supervisor per running container). Either way the caller keeps one end of a socketpair, the
*control socket*, speaking :mod:`stream` frames.
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
from devenv.runtime.embedded.syscalls import CLONE_NEWPID, real

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

FORK_RSS_LIMIT_KIB = 40 * 1024
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from devenv.runtime.embedded.supervisor import main_from_exec; main_from_exec()"  # noqa: E501


def spawn(cfg: RunConfig, mode: str = "auto") -> socket.socket:
    """Start the supervisor for ``cfg`` (whose ``run.json`` is already written); returns the control socket.

    ``mode``: ``fork``, ``exec`` or ``auto`` (fork when this process is single-threaded and small).
    """
    if mode == "auto":
        threading = sys.modules.get("threading")  # not imported: certainly single-threaded
        single = threading is None or threading.active_count() == 1
        mode = "fork" if single and _rss_kib() < FORK_RSS_LIMIT_KIB else "exec"
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    log = os.path.join(cfg.state_dir, "supervisor.log")
    if mode == "fork":
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                os.setsid()
                if os.fork() != 0:  # the supervisor is our grandchild: never a zombie of the caller
                    os._exit(0)
                ours.close()
                _daemon_stdio(log)
                os.closerange(3, theirs.fileno())
                os.closerange(theirs.fileno() + 1, 65536)
                run(cfg, theirs)
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        os.waitpid(pid, 0)
    else:
        import subprocess

        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        with open(log, "ab") as err:
            # The new interpreter forks once more and exits: the supervisor is never our child.
            subprocess.run(
                [sys.executable, "-I", "-S", "-c", _BOOT, root, cfg.state_dir, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
                check=False,
            )
    theirs.close()
    return ours


def _rss_kib() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):
        return 1 << 30


def _daemon_stdio(log: str) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    err = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(err, 2)
    os.close(null)
    os.close(err)


def main_from_exec() -> NoReturn:  # pragma: no cover - runs in the re-executed interpreter
    if os.fork() != 0:
        os._exit(0)
    state_dir, fd = sys.argv[2], int(sys.argv[3])
    try:
        with open(os.path.join(state_dir, "run.json")) as f:
            cfg = RunConfig.from_json(f.read())
        monitor.extend_path(cfg.sys_path)
        run(cfg, socket.socket(fileno=fd))
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


def run(cfg: RunConfig, ctl: socket.socket) -> NoReturn:
    """The supervisor's body. Never returns."""
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as f:
        f.write(monitor.COMM)
    Supervisor(cfg, ctl).run()


class Supervisor:
    def __init__(self, cfg: RunConfig, ctl: socket.socket) -> None:
        self.cfg = cfg
        self.ctl: socket.socket | None = ctl
        self.sys = real()
        self.cgroup = cgroups.ContainerCgroup(cgroups.detect(), cfg.cgroup_parent, cfg.id)
        self.st = state.State(status="created", supervisor=state.ProcessRef.of(os.getpid()))
        self.log_fd = os.open(cfg.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.init_pid = 0
        self.outputs: dict[int, int] = {}  # fd -> stream (STDOUT/STDERR)
        self.stdin_w = -1
        self.master = -1
        self.reader = stream.FrameReader()

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

    # -- start ---------------------------------------------------------------------------------
    def run(self) -> NoReturn:
        try:
            exit_code = self._start()
        except BaseException as exc:  # report to the starter; never leave the cgroup behind
            import traceback

            traceback.print_exc()
            self._failed(f"container supervisor failed: {exc}", 125)
        if exit_code is not None:
            self._failed(self.st.error or "the container failed to start", exit_code)
        self._monitor()

    def _start(self) -> int | None:
        cfg = self.cfg
        self.cgroup.create(cfg.limits, privileged=cfg.privileged)
        seccomp.available()  # load libseccomp from the host now: the container's root will not have it
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        go_r, go_w = os.pipe2(os.O_CLOEXEC)
        fds = init.InitFds(status_w, go_r)
        pty_ours = -1
        if cfg.tty:
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            pty_ours, fds.pty_sock = a.detach(), b.detach()
        else:
            out_r, fds.stdout = os.pipe2(os.O_CLOEXEC)
            err_r, fds.stderr = os.pipe2(os.O_CLOEXEC)
            self.outputs = {out_r: stream.STDOUT, err_r: stream.STDERR}
            if cfg.stdin_open:
                fds.stdin, self.stdin_w = os.pipe2(os.O_CLOEXEC)
        own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.sys.unshare(CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the container's init
            keep = {fds.status_w, fds.go_r, fds.pty_sock, fds.stdin, fds.stdout, fds.stderr}
            for fd in (status_r, go_w, pty_ours, self.stdin_w, self.log_fd, own_pid_ns, *self.outputs):
                if fd >= 0 and fd not in keep:
                    os.close(fd)
            if self.ctl is not None:
                self.ctl.close()
            init.main(self.sys, cfg, self.cgroup, fds)
        self.init_pid = pid
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
        if cfg.attach_network and not self._network():
            os.close(go_w)
            self._kill_init()
            return 125
        os.write(go_w, b"1")
        os.close(go_w)
        if cfg.tty:
            self.master = self._receive_master(pty_ours)
        msg = lines.next()
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

    def _network(self) -> bool:
        """Attach the container's network namespace (its init waits), then write the /etc files it gets."""
        cfg = self.cfg
        try:
            info = netns.attach(
                cfg.id,
                self.init_pid,
                cfg.network,
                cfg.ports,
                cfg.ports_policy,
                data_root=cfg.data_root,
                sys_path=cfg.sys_path,
            )
        except Exception as exc:  # devenv.network raises NetworkError with the reason
            self.st.error = f"network: {exc}"
            return False
        if cfg.network != "host":
            layout.write_text(os.path.join(cfg.state_dir, "hosts"), netns.hosts_file(cfg.hostname, info.ip_address))
        if info.resolv_conf:
            layout.write_text(os.path.join(cfg.state_dir, "resolv.conf"), info.resolv_conf)
        self.st.ip_address = info.ip_address
        self.st.ports = info.ports
        return True

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
        with contextlib.suppress(Exception):
            if self.init_pid:
                self._kill_init()
            monitor.cleanup(self._info())
        self.st.status = "stopped"
        self.st.error = message
        self.st.exit_code = code
        self.st.finished_at = time.time()
        with contextlib.suppress(OSError):
            state.write(self.cfg.state_dir, self.st)
        self.send(stream.json_frame(stream.ERROR, {"error": message, "code": code}))
        monitor.auto_remove(self._info())
        os._exit(0)

    def _info(self) -> dict[str, object]:
        cfg = self.cfg
        return {
            "id": cfg.id,
            "state_dir": cfg.state_dir,
            "cgroup_parent": cfg.cgroup_parent,
            "auto_remove": cfg.auto_remove,
            "anonymous_volumes": cfg.anonymous_volumes,
            "attach_network": cfg.attach_network,
            "data_root": cfg.data_root,
            "release_lease": cfg.release_lease,
            "sys_path": cfg.sys_path,
        }

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
        )
        mon.reader = self.reader
        if mon.run(handoff_after=monitor.IDLE_HANDOFF):
            mon.handoff()
        mon.finish()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
