"""Network namespaces: open one by pid or path, run code inside it, create sockets that live in it.

``setns(CLONE_NEWNET)`` changes only the calling thread, and a socket belongs for its whole life to the
namespace of the thread that created it. So code that must act inside a container's namespace runs in
a short-lived thread that entered it (:func:`run_in_netns`); the rest of the process stays on the host.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import threading
from collections.abc import Callable
from typing import TypeVar

from devenv.errors import NetworkError

CLONE_NEWNET = 0x40000000

NetnsRef = int | str
"""A network namespace: the pid of a process inside it, or a path (``/proc/PID/ns/net``, ``/run/netns/NAME``)."""

T = TypeVar("T")

_libc: ctypes.CDLL | None = None


def netns_path(netns: NetnsRef) -> str:
    if isinstance(netns, int):
        return f"/proc/{netns}/ns/net"
    return netns


def open_netns(netns: NetnsRef) -> int:
    """An ``O_CLOEXEC`` file descriptor for the namespace; the caller closes it."""
    path = netns_path(netns)
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NetworkError(
            f"cannot open the network namespace {path}: {exc.strerror}",
            remedy="the container is not running (its pid 1 exited) or the namespace was deleted",
        ) from None


def netns_identity(fd_or_path: int | str) -> tuple[int, int]:
    """``(st_dev, st_ino)`` of a namespace: equal identities are the same namespace."""
    st = os.stat(fd_or_path) if isinstance(fd_or_path, str) else os.fstat(fd_or_path)
    return (st.st_dev, st.st_ino)


def setns(fd: int) -> None:
    """Move the calling thread into the network namespace ``fd``."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetworkError(f"setns into a network namespace failed: {os.strerror(err)}", remedy="devenv needs root")


def run_in_netns(fd: int, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a new thread that entered the namespace ``fd``; return its result or raise its error."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            setns(fd)
            result.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name="devenv-netns", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def socket_in_netns(
    fd: int, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM, proto: int = 0
) -> socket.socket:
    """A socket that lives in the namespace ``fd`` (connect/bind act there), usable from any thread."""
    return run_in_netns(fd, lambda: socket.socket(family, kind, proto))


def pidfd_open(pid: int) -> int | None:
    """A pidfd for ``pid`` (readable once it exits), or None when the process is gone or pidfds are missing."""
    try:
        return os.pidfd_open(pid)
    except OSError as exc:
        if exc.errno in (errno.ESRCH, errno.ENOSYS, errno.EINVAL):
            return None
        raise
