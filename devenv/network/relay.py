"""Copy bytes between two TCP sockets, both ways, with ``splice(2)`` (zero-copy through a pipe).

Each direction is a thread blocked in ``splice`` (which releases the GIL), so a forwarded connection costs
two threads and no copies through Python. End of stream in one direction half-closes the other side
(``shutdown(SHUT_WR)``); an error in either direction tears both down; both sockets are closed when both
directions are done.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import threading
from collections.abc import Callable

CHUNK = 1 << 20
F_SETPIPE_SZ = 1031
_RESET = (errno.ECONNRESET, errno.EPIPE, errno.ETIMEDOUT, errno.ENOTCONN, errno.EBADF, errno.ESHUTDOWN)


class _Pair:
    def __init__(self, a: socket.socket, b: socket.socket, on_close: Callable[[], None] | None) -> None:
        self.a, self.b = a, b
        self.remaining = 2
        self.lock = threading.Lock()
        self.on_close = on_close

    def abort(self) -> None:
        for sock in (self.a, self.b):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def done(self) -> None:
        with self.lock:
            self.remaining -= 1
            last = self.remaining == 0
        if last:
            self.a.close()
            self.b.close()
            if self.on_close is not None:
                self.on_close()


def _pipe() -> tuple[int, int]:
    r, w = os.pipe2(os.O_CLOEXEC)
    with contextlib.suppress(OSError):
        fcntl.fcntl(w, F_SETPIPE_SZ, CHUNK)
    return r, w


def _splice(src: socket.socket, dst: socket.socket) -> None:
    r, w = _pipe()
    try:
        sfd, dfd = src.fileno(), dst.fileno()
        while True:
            n = os.splice(sfd, w, CHUNK, flags=os.SPLICE_F_MOVE)
            if n == 0:
                return
            while n:
                n -= os.splice(r, dfd, n, flags=os.SPLICE_F_MOVE)
    finally:
        os.close(r)
        os.close(w)


def _copy(src: socket.socket, dst: socket.socket) -> None:
    buf = bytearray(1 << 16)
    view = memoryview(buf)
    while True:
        n = src.recv_into(buf)
        if n == 0:
            return
        dst.sendall(view[:n])


def _pump(src: socket.socket, dst: socket.socket, pair: _Pair) -> None:
    try:
        try:
            _splice(src, dst)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            _copy(src, dst)  # a socket type splice does not support
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
    except OSError as exc:
        if exc.errno not in _RESET:
            pair.abort()
            raise
        pair.abort()
    finally:
        pair.done()


def tune(sock: socket.socket) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def relay(
    a: socket.socket, b: socket.socket, *, on_close: Callable[[], None] | None = None, inline: bool = False
) -> None:
    """Copy ``a`` <-> ``b`` until both directions end, then close both (and call ``on_close``).

    Returns at once, unless ``inline``: then the calling thread carries ``a`` -> ``b`` itself and returns
    when that direction ends (saves starting a thread per connection).
    """
    for sock in (a, b):
        sock.settimeout(None)
        tune(sock)
    pair = _Pair(a, b, on_close)
    threading.Thread(target=_pump, args=(b, a, pair), name="relay", daemon=True).start()
    if inline:
        _pump(a, b, pair)
    else:
        threading.Thread(target=_pump, args=(a, b, pair), name="relay", daemon=True).start()
