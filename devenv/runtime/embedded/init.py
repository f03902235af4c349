"""The container's pid 1: sets up the namespaces and filesystem, starts the command, reaps zombies and
forwards signals (``init: true`` semantics, as tini), and exits with the command's exit status.

It is forked by the supervisor right after ``unshare(CLONE_NEWPID)``, so it is pid 1 of the new pid
namespace (and in the container's v2 cgroup), before the start's configuration is complete: it creates
its namespaces and joins its cgroups, then reads the :class:`RunConfig` from ``go_r`` (the supervisor
attaches the network and gets the configuration from its caller meanwhile) and only then mounts
anything. It talks to the supervisor through ``status_w`` (JSON lines: ``{"ns": 1}`` when its
namespaces exist, ``{"started": pid}`` or ``{"error": ..., "code": N}``, and ``{"exit": N}`` once the
command and every other process of the container are gone); an empty ``go_r`` means the start was
called off. It keeps no host file descriptor but that pipe once the command runs, and makes itself
non-dumpable so container processes cannot reach through ``/proc/1``.

With ``init: false`` the command itself becomes pid 1 (exec'd in place of this process).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import struct
import termios

from devenv.runtime.embedded import container_fs, netns, process
from devenv.runtime.embedded.cgroups import ContainerCgroup
from devenv.runtime.embedded.config import RunConfig
from devenv.runtime.embedded.syscalls import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWUTS,
    PR_SET_DUMPABLE,
    Syscalls,
)

TYPE_CHECKING = False  # (typing is not imported at run time: start-up time)
if TYPE_CHECKING:
    from typing import NoReturn

# Signals a process cannot meaningfully receive from someone else; everything else is forwarded.
_NOT_FORWARDED = {
    signal.SIGCHLD,
    signal.SIGKILL,
    signal.SIGSTOP,
    signal.SIGFPE,
    signal.SIGILL,
    signal.SIGSEGV,
    signal.SIGBUS,
    signal.SIGABRT,
    signal.SIGTRAP,
    signal.SIGSYS,
    signal.SIGTTIN,
    signal.SIGTTOU,
}
FORWARDED = sorted(set(signal.valid_signals()) - _NOT_FORWARDED)


class InitFds:
    def __init__(
        self,
        status_w: int,  # to the supervisor
        go_r: int,  # from the supervisor
        pty_sock: int = -1,  # tty: where the master of the container's pty is sent
        stdin: int = -1,  # pipes: the command's ends (-1 = /dev/null)
        stdout: int = -1,
        stderr: int = -1,
    ) -> None:
        self.status_w = status_w
        self.go_r = go_r
        self.pty_sock = pty_sock
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr


def _send(fd: int, obj: dict[str, object]) -> None:
    os.write(fd, (json.dumps(obj) + "\n").encode())


def process_spec(cfg: RunConfig) -> process.ProcessSpec:
    env = list(cfg.env)
    if not any(e.startswith("HOSTNAME=") for e in env):
        env.insert(0, f"HOSTNAME={cfg.hostname}")
    return process.ProcessSpec(
        argv=cfg.argv,
        env=env,
        user=cfg.user,
        workdir=cfg.workdir,
        caps=cfg.caps,
        privileged=cfg.privileged,
        no_new_privs=cfg.no_new_privs,
        seccomp=cfg.seccomp,
        create_workdir=True,
        tty=cfg.tty,
    )


def main(
    sys: Syscalls,
    network: str,
    cgroup: ContainerCgroup,
    fds: InitFds,
    *,
    joined_v2: bool = False,
    netns_fd: int = -1,
) -> NoReturn:
    """Never returns: exits with the command's status, or 125 when the setup fails. ``network``: the
    container's network mode (whether it gets a network namespace of its own); ``joined_v2``: this
    process was created in the container's v2 cgroup (else it joins it); ``netns_fd``: the network
    namespace the supervisor made for it (``lo`` up), else it makes its own."""
    try:
        cfg = _setup(sys, network, cgroup, fds, joined_v2, netns_fd)
        stdio = _stdio(cfg, fds)
    except BaseException as exc:  # report anything, with the step that failed
        message = str(exc) if isinstance(exc, container_fs.SetupError | OSError) else repr(exc)
        _safe_send(fds.status_w, {"error": f"container setup failed: {message}", "code": 125})
        os._exit(125)
    if not cfg.init:
        _exec_in_place(sys, cfg, fds, stdio)
    _run_as_init(sys, cfg, fds, stdio)


def _safe_send(fd: int, obj: dict[str, object]) -> None:
    with contextlib.suppress(OSError):
        _send(fd, obj)


def set_title(title: str) -> None:
    """Replace this process's command line (what /proc/PID/cmdline and ps show) by ``title``: the
    interpreter's own would tell the container the host's paths."""
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as f:
        f.write(title[:15])
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48 and 49)
        data = title.encode()[: end - start - 1]
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            mem.write(data + b"\0" * (end - start - len(data)))


def _setup(
    sys: Syscalls, network: str, cgroup: ContainerCgroup, fds: InitFds, joined_v2: bool, netns_fd: int
) -> RunConfig:
    set_title("devenv-init")
    flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC
    if network != "host" and netns_fd < 0:
        flags |= CLONE_NEWNET
    sys.unshare(flags)
    if netns_fd >= 0:
        sys.setns(netns_fd, CLONE_NEWNET)
        os.close(netns_fd)
    elif network != "host":
        netns.loopback_up()
    # The network namespace exists: the supervisor attaches it while this process joins its cgroups
    # (without waiting for an RCU grace period: see ContainerCgroup.join_v1_thread).
    _send(fds.status_w, {"ns": 1})
    cgroup.join_v1_thread()
    if not joined_v2:
        cgroup.join_v2(0)
    sys.unshare(CLONE_NEWCGROUP)  # after the joins: the container's cgroup is the root it sees
    chunks = []
    while data := os.read(fds.go_r, 65536):
        chunks.append(data)
    os.close(fds.go_r)
    if not chunks:  # called off: the supervisor kills this process (or has gone away)
        os._exit(125)
    cfg = RunConfig.from_json(b"".join(chunks).decode())
    container_fs.setup(sys, cfg, cgroup.mount_list())
    sys.sethostname(cfg.hostname)
    sys.prctl(PR_SET_DUMPABLE, 0)
    return cfg


def _stdio(cfg: RunConfig, fds: InitFds) -> tuple[int, int, int]:
    """The command's stdin, stdout, stderr. With a tty: a pty of the container's own devpts, whose master
    goes to the supervisor."""
    if cfg.tty:
        master, slave = os.openpty()
        rows, cols = cfg.tty_size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        sock = socket.socket(fileno=fds.pty_sock)
        socket.send_fds(sock, [b"m"], [master])
        sock.close()
        os.close(master)
        return slave, slave, slave
    stdin = fds.stdin if fds.stdin >= 0 else os.open("/dev/null", os.O_RDONLY)
    return stdin, fds.stdout, fds.stderr


def _child_stdio(cfg: RunConfig, stdio: tuple[int, int, int]) -> None:
    os.setsid()
    if cfg.tty:
        fcntl.ioctl(stdio[0], termios.TIOCSCTTY, 0)
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
    for fd in set(stdio):
        if fd > 2:
            os.close(fd)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT):  # Python changed these; exec keeps SIG_IGN
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _exec_in_place(sys: Syscalls, cfg: RunConfig, fds: InitFds, stdio: tuple[int, int, int]) -> NoReturn:
    # status_w is close-on-exec: the supervisor reads EOF when the exec succeeds.
    os.set_inheritable(fds.status_w, False)
    _child_stdio(cfg, stdio)
    process.exec_or_report(sys, process_spec(cfg), fds.status_w)


def _run_as_init(sys: Syscalls, cfg: RunConfig, fds: InitFds, stdio: tuple[int, int, int]) -> NoReturn:
    signal.pthread_sigmask(signal.SIG_BLOCK, [*FORWARDED, signal.SIGCHLD])
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        os.close(report_r)
        os.close(fds.status_w)
        _child_stdio(cfg, stdio)
        process.exec_or_report(sys, process_spec(cfg), report_w)
    os.close(report_w)
    for fd in set(stdio):
        os.close(fd)
    failure = process.read_report(report_r)
    os.close(report_r)
    if failure is not None:
        _safe_send(fds.status_w, {"error": failure[0], "code": failure[1]})
        os.waitpid(child, 0)
        os._exit(failure[1])
    _safe_send(fds.status_w, {"started": child})
    code = reap_until(child)
    # The container's end, as the kernel would make it when this process exits (its other processes
    # killed and gone), then the exit code to the supervisor: it tells the client while the kernel tears
    # this process and the container's namespaces down.
    end_all()
    _safe_send(fds.status_w, {"exit": code})
    os._exit(code)


def end_all() -> None:
    """Kill every other process of the container (this is its pid 1) and reap them."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def reap_until(child: int) -> int:
    """Forward signals to ``child`` and reap every process; return the exit code of ``child``."""
    wanted = {*FORWARDED, signal.SIGCHLD}
    while True:
        status = _reap(child)
        if status is not None:
            return status
        info = signal.sigwaitinfo(wanted)
        if info.si_signo != signal.SIGCHLD:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, info.si_signo)


def _reap(child: int) -> int | None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return None
        if pid == 0:
            return None
        if pid == child:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
