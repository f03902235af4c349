"""Run a process in a running container: join its cgroup and namespaces, become its user, exec.

The caller (the CLI) sets its *pid namespace for children* to the container's (``setns`` affects only
children), forks once, and restores it: the child is a process of the container's pid namespace
whose parent is the caller, so the caller waits for it directly and forwards signals. The child joins
the cgroup, then the cgroup, ipc, uts, net and mount namespaces (mount last: it switches the root to
the container's), opens a pty of the container's own devpts when a tty is wanted (the master is sent
back over a socketpair), and becomes the container process (:mod:`.process`).

Streams: the caller's own stdin/stdout/stderr when the ``ExecIO`` fields are None, else the given
descriptors or file-like objects; output is relayed until the process exits (:mod:`.relay`).

This module is the ``exec`` hot path of the CLI: it imports no dataclass-heavy module at run time and
reads the container's records as plain JSON.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import termios

from devenv.errors import ContainerError
from devenv.runtime.embedded import cgroups, layout, process, relay, seccomp, state, terminal
from devenv.runtime.embedded.syscalls import CLONE_NEWPID, NAMESPACE_FLAGS, fork_into_cgroup, real

TYPE_CHECKING = False  # (typing is not imported at run time: this module is the exec hot path)
if TYPE_CHECKING:
    from typing import IO, Any, NoReturn

    from devenv.runtime.base import ExecIO, ExecSpec


class ExecFailed(ContainerError):
    """The process could not be started; ``command_exit_code`` is 126 (cannot run) or 127 (not found)."""

    def __init__(self, message: str, command_exit_code: int) -> None:
        super().__init__(message)
        self.command_exit_code = command_exit_code


class ExecTarget:
    def __init__(
        self, name: str, init: state.ProcessRef, cgroup_procs: list[str], run: dict[str, Any], cgroup_v2: str = ""
    ) -> None:
        self.name = name
        self.init = init
        self.cgroup_procs = cgroup_procs  # host paths of the files the child joins the cgroups through
        self.cgroup_v2 = cgroup_v2  # the container's v2 cgroup directory ("": none)
        self.run = run  # run.json of the running start: env, user, workdir, caps, seccomp


def target(state_dir: str) -> ExecTarget:
    """The running container of ``state_dir``; ContainerError when it is not running."""
    name = os.path.basename(state_dir)[:12]
    try:
        name = str(layout.read_json(os.path.join(state_dir, layout.RECORD))["name"])
        st = state.refreshed(state_dir)
        with open(os.path.join(state_dir, "run.json")) as f:
            import json

            cfg = json.load(f)
    except (OSError, ValueError, KeyError):
        st = state.State()
    if st.status != "running" or st.init is None:
        raise ContainerError(
            f"container {name} is not running", remedy=f"start it first: devenv container start {name}"
        )
    cg = cgroups.ContainerCgroup(cgroups.detect(), cfg["cgroup_parent"], cfg["id"])
    # The child is single-threaded: it joins the v1 hierarchies by moving its thread (``tasks``), and
    # is forked into the v2 cgroup, without the RCU wait of a cgroup.procs write (see cgroups).
    joins = [
        os.path.join(cg.path(h), "tasks" if h.fstype == "cgroup" else "cgroup.procs") for h in cg.layout.hierarchies
    ]
    unified = cg.layout.unified
    return ExecTarget(name, st.init, joins, cfg, cg.path(unified) if unified is not None else "")


def exec_command(
    data_root: str, id_or_name: str, spec: ExecSpec, io: ExecIO | None = None, *, detach: bool = False
) -> int:
    """``devenv container exec``: find the container and run ``spec`` in it."""
    return run(target(layout.container_dir(data_root, layout.find(data_root, id_or_name))), spec, io, detach=detach)


def process_spec(target: ExecTarget, spec: ExecSpec) -> process.ProcessSpec:
    cfg = target.run
    env = [f"HOSTNAME={cfg['hostname']}", *cfg["env"], *spec.env]
    return process.ProcessSpec(
        argv=list(spec.argv),
        env=env,
        user=spec.user or cfg["user"],
        workdir=spec.workdir or cfg["workdir"],
        caps=cfg["caps"],
        privileged=cfg["privileged"],
        no_new_privs=cfg["no_new_privs"],
        seccomp=cfg["seccomp"],
        tty=spec.tty,
        argv0=getattr(spec, "argv0", ""),
    )


class _NoIO:
    stdin = stdout = stderr = None


_NO_IO: Any = _NoIO()


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


def run(target: ExecTarget, spec: ExecSpec, io: ExecIO | None = None, *, detach: bool = False) -> int:
    """Run ``spec`` in the container; its exit code (128+N when killed by signal N).

    ``detach`` (``exec -d``): return 0 once the process runs, its streams on /dev/null; when the caller
    exits, the container's init adopts it."""
    io = io if io is not None else _NO_IO
    if not spec.argv:
        raise ContainerError("exec needs a command")
    sys = real()
    seccomp.available()  # loaded from the host before the child enters the container's root
    namespaces = _open_namespaces(target.init.pid)
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if not target.init.alive():
            raise ContainerError(f"container {target.name} is not running")
        return _run(sys, target, spec, io, namespaces, own_pid_ns, detach)
    finally:
        for fd, _ in namespaces:
            os.close(fd)
        os.close(own_pid_ns)


def _run(
    sys: Any,
    target: ExecTarget,
    spec: ExecSpec,
    io: ExecIO,
    namespaces: list[tuple[int, int]],
    own_pid_ns: int,
    detach: bool = False,
) -> int:
    pspec = process_spec(target, spec)
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    outputs: dict[int, Any] = {}  # our read end -> where the output goes
    stdin: tuple[Any, int] | None = None  # (source, our write end)
    stdio: list[int] = []  # the child's 0, 1, 2
    pty_parent = pty_child = -1
    if detach:
        stdio = [os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)] * 3
    elif spec.tty:
        import socket  # (imported before the child enters the container's root, where it could not be)

        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pty_parent, pty_child = a.detach(), b.detach()
    else:
        if spec.interactive:
            r, w = os.pipe2(os.O_CLOEXEC)
            stdin = (io.stdin if io.stdin is not None else 0, w)
            stdio.append(r)
        else:
            stdio.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
        for sink, default in ((io.stdout, 1), (io.stderr, 2)):
            if default == 2 and sink is not None and sink is io.stdout:
                stdio.append(stdio[-1])  # one sink for both: one pipe, the output in the order it was written
                continue
            r, w = os.pipe2(os.O_CLOEXEC)
            outputs[r] = sink if sink is not None else default
            stdio.append(w)
    winsize = _winsize(io)
    pid_ns = next((fd for fd, flag in namespaces if flag == CLONE_NEWPID), -1)
    if pid_ns >= 0:
        sys.setns(pid_ns, CLONE_NEWPID)
    try:
        child, in_v2 = _fork(target)
    except BaseException:
        if pid_ns >= 0:
            sys.setns(own_pid_ns, CLONE_NEWPID)
        raise
    if child == 0:  # pragma: no cover - runs in the child
        os.close(report_r)
        _child(sys, target, pspec, namespaces, report_w, stdio, pty_child, winsize, in_v2)
    if pid_ns >= 0:
        sys.setns(own_pid_ns, CLONE_NEWPID)
    os.close(report_w)
    if pty_child >= 0:
        os.close(pty_child)
    for fd in set(stdio):
        os.close(fd)
    master = _receive_master(pty_parent) if spec.tty else -1
    failure = process.read_report(report_r)
    os.close(report_r)
    if failure is not None:
        os.waitpid(child, 0)
        for fd in [master, *outputs, stdin[1] if stdin else -1]:
            if fd >= 0:
                os.close(fd)
        raise ExecFailed(f"cannot exec in container {target.name}: {failure[0]}", failure[1])
    if detach:
        return 0
    with terminal.signal_handlers(lambda sig: _kill(child, sig)):
        if spec.tty:
            in_fd = _fileno(io.stdin, 0)
            relay.tty(master, in_fd, io.stdout if io.stdout is not None else 1, child)
        else:
            relay.pipes(outputs, stdin, child)
        _, status = _waitpid(child)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _fork(target: ExecTarget) -> tuple[int, bool]:
    """Fork, into the container's v2 cgroup when this process is single-threaded (clone3 skips libc's
    fork handlers) and the kernel can; returns the pid (0 in the child) and whether it is there."""
    if target.cgroup_v2 and _single_threaded():
        try:
            fd = os.open(target.cgroup_v2, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            fd = -1
        if fd >= 0:
            try:
                return fork_into_cgroup(fd), True
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    os.close(fd)
    return os.fork(), False


def _single_threaded() -> bool:
    try:
        with open("/proc/self/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[17] == b"1"  # num_threads (field 20)
    except (OSError, IndexError):
        return False


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
    in_v2: bool,
) -> NoReturn:
    try:
        for path in target.cgroup_procs:
            if in_v2 and path == os.path.join(target.cgroup_v2, "cgroup.procs"):
                continue  # (created there)
            with contextlib.suppress(FileNotFoundError), open(path, "w") as f:
                f.write("0")
        for fd, flag in namespaces:
            if flag != CLONE_NEWPID:
                sys.setns(fd, flag)
        os.setsid()
        if pty_child >= 0:
            master, slave = os.openpty()  # /dev/ptmx is now the container's
            terminal.set_winsize(slave, *winsize)
            import socket  # already loaded by the parent: no file is read here

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
    import socket

    sock = socket.socket(fileno=sock_fd)
    try:
        _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    finally:
        sock.close()
    return fds[0] if fds else -1
