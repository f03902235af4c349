"""Run a process in a running container: join its cgroup and namespaces, become its user, exec.

The caller (the CLI) sets its *pid namespace for children* to the container's (``setns`` affects only
children), forks once, and restores it: the child is a process of the container's pid namespace
whose parent is the caller, so the caller waits for it directly and forwards signals. The child joins
the cgroup, then the cgroup, ipc, uts, net and mount namespaces (mount last: it switches the root to
the container's), opens a pty of the container's own devpts when a tty is wanted (the master is sent
back over a socketpair), and becomes the container process (:mod:`.process`).

Streams: with ``ExecIO`` fields None the child uses the caller's own stdin/stdout/stderr directly; a
field with a file descriptor is used as it is; anything else (``io.BytesIO``) is relayed through pipes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import selectors
import signal
import socket
import termios
from dataclasses import dataclass
from typing import IO, Any, NoReturn

from devenv.errors import ContainerError
from devenv.runtime.base import ExecIO, ExecSpec
from devenv.runtime.embedded import cgroups, process, seccomp, state, terminal
from devenv.runtime.embedded.config import RunConfig
from devenv.runtime.embedded.syscalls import CLONE_NEWPID, NAMESPACE_FLAGS, real


class ExecFailed(ContainerError):
    """The process could not be started; ``command_exit_code`` is 126 (cannot run) or 127 (not found)."""

    def __init__(self, message: str, command_exit_code: int) -> None:
        super().__init__(message)
        self.command_exit_code = command_exit_code


@dataclass
class ExecTarget:
    name: str
    init: state.ProcessRef
    cgroup_procs: list[str]  # host paths of the container's cgroup.procs files
    run: RunConfig  # the running start's configuration: env, user, workdir, caps, seccomp


def target_of(record: Any, st: state.State, state_dir: str) -> ExecTarget:
    with open(os.path.join(state_dir, "run.json")) as f:
        cfg = RunConfig.from_json(f.read())
    assert st.init is not None
    cg = cgroups.ContainerCgroup(cgroups.detect(), cfg.cgroup_parent, cfg.id)
    return ExecTarget(record.name, st.init, [os.path.join(p, "cgroup.procs") for p in cg.paths()], cfg)


def process_spec(target: ExecTarget, spec: ExecSpec) -> process.ProcessSpec:
    cfg = target.run
    env = [f"HOSTNAME={cfg.hostname}", *cfg.env, *spec.env]
    return process.ProcessSpec(
        argv=list(spec.argv),
        env=env,
        user=spec.user or cfg.user,
        workdir=spec.workdir or cfg.workdir,
        caps=cfg.caps,
        privileged=cfg.privileged,
        no_new_privs=cfg.no_new_privs,
        seccomp=cfg.seccomp,
        tty=spec.tty,
    )


def _open_namespaces(pid: int) -> list[tuple[int, int]]:
    """``(fd, flag)`` of the container's namespaces that differ from ours, pid first and mnt last."""
    fds = []
    for name, flag in NAMESPACE_FLAGS.items():
        if name == "user":
            continue  # rootless containers (a later issue) join theirs first
        theirs = f"/proc/{pid}/ns/{name}"
        try:
            if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                continue
            fds.append((os.open(theirs, os.O_RDONLY | os.O_CLOEXEC), flag))
        except FileNotFoundError:
            continue
    fds.sort(key=lambda item: (item[1] != CLONE_NEWPID, item[1] == NAMESPACE_FLAGS["mnt"]))
    return fds


def _fileno(stream: IO[bytes] | None, default: int) -> int | None:
    """The descriptor to give the child for ``stream``: ``default`` for None, its own, or None (relay)."""
    if stream is None:
        return default
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def run(target: ExecTarget, spec: ExecSpec, io: ExecIO | None = None) -> int:
    """Run ``spec`` in the container; its exit code (128+N when killed by signal N)."""
    io = io or ExecIO()
    if not spec.argv:
        raise ContainerError("exec needs a command")
    sys = real()
    seccomp.available()  # loaded from the host before the child enters the container's root
    namespaces = _open_namespaces(target.init.pid)
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if not target.init.alive():
            raise ContainerError(f"container {target.name} is not running")
        return _run(sys, target, spec, io, namespaces, own_pid_ns)
    finally:
        for fd, _ in namespaces:
            os.close(fd)
        os.close(own_pid_ns)


def _run(
    sys: Any, target: ExecTarget, spec: ExecSpec, io: ExecIO, namespaces: list[tuple[int, int]], own_pid_ns: int
) -> int:
    pspec = process_spec(target, spec)
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    relays: dict[int, tuple[str, Any]] = {}  # parent fd -> (direction, stream)
    stdio: list[int] = []  # the child's 0, 1, 2
    to_close: list[int] = []  # opened here for the child only
    pty_parent = pty_child = -1
    if spec.tty:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pty_parent, pty_child = a.detach(), b.detach()
    else:
        stdin_default = 0 if spec.interactive else -1
        for target_fd, stream_obj, default in ((0, io.stdin, stdin_default), (1, io.stdout, 1), (2, io.stderr, 2)):
            fd = _fileno(stream_obj, default)
            if fd is None:
                r, w = os.pipe2(os.O_CLOEXEC)
                if target_fd == 0:
                    relays[w], fd = ("in", stream_obj), r
                else:
                    relays[r], fd = ("out", stream_obj), w
                to_close.append(fd)
            elif fd < 0:
                fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
                to_close.append(fd)
            stdio.append(fd)
    winsize = _winsize(io)
    pid_ns = (
        next(fd for fd, flag in namespaces if flag == CLONE_NEWPID)
        if any(f == CLONE_NEWPID for _, f in namespaces)
        else -1
    )
    if pid_ns >= 0:
        sys.setns(pid_ns, CLONE_NEWPID)
    try:
        child = os.fork()
    except BaseException:
        if pid_ns >= 0:
            sys.setns(own_pid_ns, CLONE_NEWPID)
        raise
    if child == 0:  # pragma: no cover - runs in the child
        os.close(report_r)
        _child(sys, target, pspec, namespaces, report_w, stdio, pty_child, winsize)
    if pid_ns >= 0:
        sys.setns(own_pid_ns, CLONE_NEWPID)
    os.close(report_w)
    if pty_child >= 0:
        os.close(pty_child)
    for fd in to_close:
        os.close(fd)
    master = _receive_master(pty_parent) if spec.tty else -1
    failure = process.read_report(report_r)
    os.close(report_r)
    if failure is not None:
        os.waitpid(child, 0)
        if master >= 0:
            os.close(master)
        for fd in relays:
            os.close(fd)
        raise ExecFailed(f"cannot exec in container {target.name}: {failure[0]}", failure[1])
    with terminal.signal_handlers(lambda sig: _kill(child, sig)):
        if spec.tty:
            _relay_tty(master, io, child)
        elif relays:
            _relay_pipes(relays, child)
        _, status = _waitpid(child)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _winsize(io: ExecIO) -> tuple[int, int]:
    fd = _fileno(io.stdin, 0)
    return (terminal.get_winsize(fd) if fd is not None and fd >= 0 else None) or (24, 80)


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _waitpid(pid: int) -> tuple[int, int]:
    while True:
        try:
            return os.waitpid(pid, 0)
        except InterruptedError:
            continue


def _child(
    sys: Any,
    target: ExecTarget,
    pspec: process.ProcessSpec,
    namespaces: list[tuple[int, int]],
    report_w: int,
    stdio: list[int],
    pty_child: int,
    winsize: tuple[int, int],
) -> NoReturn:
    try:
        for path in target.cgroup_procs:
            with contextlib.suppress(FileNotFoundError), open(path, "w") as f:
                f.write("0")
        for fd, flag in namespaces:
            if flag != CLONE_NEWPID:
                sys.setns(fd, flag)
        os.setsid()
        if pty_child >= 0:
            master, slave = os.openpty()  # /dev/ptmx is now the container's
            terminal.set_winsize(slave, *winsize)
            sock = socket.socket(fileno=pty_child)
            socket.send_fds(sock, [b"m"], [master])
            sock.close()
            os.close(master)
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            stdio = [slave, slave, slave]
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in stdio]  # no clash while moving
        for i, fd in enumerate(high):
            os.dup2(fd, i, inheritable=True)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.closerange(3, report_w)
        os.closerange(report_w + 1, 65536)
    except BaseException as exc:
        process.report(report_w, f"cannot enter the container: {exc}", 126)
        os._exit(126)
    process.exec_or_report(sys, pspec, report_w)


def _receive_master(sock_fd: int) -> int:
    sock = socket.socket(fileno=sock_fd)
    try:
        _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    finally:
        sock.close()
    return fds[0] if fds else -1


def _relay_pipes(relays: dict[int, tuple[str, Any]], child: int) -> None:
    sel = selectors.DefaultSelector()
    outputs = 0
    for fd, (direction, obj) in relays.items():
        if direction == "out":
            sel.register(fd, selectors.EVENT_READ, obj)
            outputs += 1
        else:  # feed stdin from a file-like object, then close it
            data = obj.read() if obj is not None else b""
            with contextlib.suppress(OSError):
                _write_all(fd, data)
            os.close(fd)
    pidfd = os.pidfd_open(child)
    sel.register(pidfd, selectors.EVENT_READ, None)
    exited = False
    while outputs:
        # Once the process has exited, take what is left in the pipes without waiting for writers it
        # may have left running in the background.
        events = sel.select(0 if exited else None)
        if exited and not events:
            break
        for key, _ in events:
            if key.fd == pidfd:
                exited = True
                sel.unregister(pidfd)
                continue
            data = os.read(key.fd, 65536)
            if not data:
                sel.unregister(key.fd)
                os.close(key.fd)
                outputs -= 1
                continue
            key.data.write(data)
    for key in list(sel.get_map().values()):
        if key.fd != pidfd:
            os.close(key.fd)
    os.close(pidfd)
    sel.close()


def _relay_tty(master: int, io: ExecIO, child: int) -> None:
    in_fd = _fileno(io.stdin, 0)
    out_fd = _fileno(io.stdout, 1)
    out_obj = io.stdout if out_fd is None else None
    sel = selectors.DefaultSelector()
    sel.register(master, selectors.EVENT_READ, "master")
    if in_fd is not None and in_fd >= 0:
        sel.register(in_fd, selectors.EVENT_READ, "stdin")
    resize = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    sel.register(resize[0], selectors.EVENT_READ, "winch")
    pidfd = os.pidfd_open(child)
    sel.register(pidfd, selectors.EVENT_READ, "exit")
    os.set_blocking(master, False)
    exited = False
    old = signal.signal(signal.SIGWINCH, lambda s, f: _poke(resize[1]))
    try:
        with terminal.raw_mode(in_fd if in_fd is not None and in_fd >= 0 else -1):
            while True:
                events = sel.select(0 if exited else None)
                if exited and not events:
                    return
                for key, _ in events:
                    if key.data == "exit":
                        exited = True
                        sel.unregister(pidfd)
                        if in_fd is not None and in_fd >= 0:
                            with contextlib.suppress(KeyError):
                                sel.unregister(in_fd)
                    elif key.data == "winch":
                        os.read(resize[0], 64)
                        size = terminal.get_winsize(in_fd) if in_fd is not None and in_fd >= 0 else None
                        if size:
                            with contextlib.suppress(OSError):
                                terminal.set_winsize(master, *size)
                    elif key.data == "stdin":
                        data = os.read(key.fd, 65536)
                        if not data:
                            sel.unregister(key.fd)
                        else:
                            _write_all(master, data)
                    else:
                        try:
                            data = os.read(master, 65536)
                        except BlockingIOError:
                            continue
                        except OSError as exc:
                            if exc.errno != errno.EIO:
                                raise
                            data = b""
                        if not data:
                            return
                        if out_obj is not None:
                            out_obj.write(data)
                        else:
                            _write_all(out_fd if out_fd is not None else 1, data)
    finally:
        signal.signal(signal.SIGWINCH, old)
        sel.close()
        os.close(pidfd)
        os.close(master)
        os.close(resize[0])
        os.close(resize[1])


def _poke(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, b"x")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        view = view[n:]
