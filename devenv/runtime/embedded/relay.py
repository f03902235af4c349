"""Copy bytes between the caller and a process in a container until the process exits.

Endpoints are file descriptors or file-like objects (``write``/``read``). Output is relayed until the
process has exited and its pipes are drained, not until every writer is gone, so a background process
left running in the container does not hold the caller (as ``docker exec``). An input that cannot be
polled (a regular file, ``/dev/null``: epoll refuses them with EPERM) is always readable: it is read
whenever the process's stdin pipe has room.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import selectors
import signal

from devenv.runtime.embedded import terminal

TYPE_CHECKING = False  # (typing is not imported at run time: exec's hot path)
if TYPE_CHECKING:
    from typing import Any

    Endpoint = Any  # an int file descriptor, or an object with write()/read()


def _fileno(obj: Endpoint) -> int | None:
    if isinstance(obj, int):
        return obj
    try:
        fd = obj.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return fd if isinstance(fd, int) else None


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        view = view[n:]


def _emit(sink: Endpoint, data: bytes) -> None:
    fd = _fileno(sink)
    if fd is not None:
        write_all(fd, data)
    else:
        sink.write(data)
        with contextlib.suppress(AttributeError, OSError, ValueError):
            sink.flush()


def pipes(outputs: dict[int, Endpoint], stdin: tuple[Endpoint, int] | None, child: int) -> None:
    """``outputs``: our read end -> where it goes; ``stdin``: (source, our write end of the child's stdin)."""
    sel = selectors.DefaultSelector()
    for fd, sink in outputs.items():
        sel.register(fd, selectors.EVENT_READ, ("out", sink))
    pending = bytearray()
    in_w = -1
    in_src: Endpoint = None
    src_fd: int | None = None
    polled = True  # the source can be polled; else it is read whenever the pipe has room
    if stdin is not None:
        in_src, in_w = stdin
        os.set_blocking(in_w, False)
        src_fd = _fileno(in_src)
        if src_fd is None:  # a file-like object: everything it has, then EOF
            pending += in_src.read() or b""
            in_src = None
            sel.register(in_w, selectors.EVENT_WRITE, ("in-w", None))
        else:
            try:
                sel.register(src_fd, selectors.EVENT_READ, ("in-r", None))
            except PermissionError:
                polled = False
    pidfd = os.pidfd_open(child)
    sel.register(pidfd, selectors.EVENT_READ, ("exit", None))
    exited = False
    open_outputs = len(outputs)

    def close_stdin() -> None:
        nonlocal in_w
        if in_w >= 0:
            with contextlib.suppress(KeyError):
                sel.unregister(in_w)
            os.close(in_w)
            in_w = -1

    try:
        while open_outputs:
            if not polled and in_src is not None and not pending and in_w >= 0:
                assert src_fd is not None
                data = os.read(src_fd, 65536)
                if data:
                    pending += data
                    sel.register(in_w, selectors.EVENT_WRITE, ("in-w", None))
                else:
                    in_src = None
                    close_stdin()
            events = sel.select(0 if exited else None)
            if exited and not events:
                break
            for key, _ in events:
                kind, sink = key.data
                if kind == "exit":
                    exited = True
                    sel.unregister(pidfd)
                    if in_src is not None and src_fd is not None and polled:
                        with contextlib.suppress(KeyError):
                            sel.unregister(src_fd)
                    in_src = None
                    close_stdin()
                elif kind == "out":
                    data = os.read(key.fd, 65536)
                    if not data:
                        sel.unregister(key.fd)
                        os.close(key.fd)
                        outputs.pop(key.fd)
                        open_outputs -= 1
                    else:
                        _emit(sink, data)
                elif kind == "in-r":
                    data = os.read(key.fd, 65536)
                    sel.unregister(key.fd)
                    if data:
                        pending += data
                        sel.register(in_w, selectors.EVENT_WRITE, ("in-w", None))
                    else:
                        in_src = None
                        if not pending:
                            close_stdin()
                elif kind == "in-w":
                    try:
                        n = os.write(in_w, pending)
                    except BrokenPipeError:
                        pending.clear()
                        n = 0
                        close_stdin()
                        continue
                    del pending[:n]
                    if not pending:
                        sel.unregister(in_w)
                        if in_src is None:
                            close_stdin()
                        elif polled and src_fd is not None:
                            sel.register(src_fd, selectors.EVENT_READ, ("in-r", None))
    finally:
        for fd in outputs:
            with contextlib.suppress(OSError):
                os.close(fd)
        close_stdin()
        os.close(pidfd)
        sel.close()


def tty(master: int, in_fd: int | None, sink: Endpoint, child: int) -> None:
    """Relay a terminal: ``in_fd`` (raw mode when it is a terminal) to the pty master, the master to
    ``sink``; window size changes of ``in_fd`` follow (SIGWINCH)."""
    sel = selectors.DefaultSelector()
    sel.register(master, selectors.EVENT_READ, "master")
    if in_fd is not None and in_fd >= 0:
        sel.register(in_fd, selectors.EVENT_READ, "stdin")
    resize_r, resize_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    sel.register(resize_r, selectors.EVENT_READ, "winch")
    pidfd = os.pidfd_open(child)
    sel.register(pidfd, selectors.EVENT_READ, "exit")
    os.set_blocking(master, False)
    exited = False

    def poke(signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            os.write(resize_w, b"x")

    old = signal.signal(signal.SIGWINCH, poke)
    try:
        with terminal.raw_mode(in_fd if in_fd is not None else -1):
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
                        os.read(resize_r, 64)
                        size = terminal.get_winsize(in_fd) if in_fd is not None and in_fd >= 0 else None
                        if size:
                            with contextlib.suppress(OSError):
                                terminal.set_winsize(master, *size)
                    elif key.data == "stdin":
                        data = os.read(key.fd, 65536)
                        if not data:
                            sel.unregister(key.fd)
                        else:
                            write_all(master, data)
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
                        _emit(sink, data)
    finally:
        signal.signal(signal.SIGWINCH, old)
        sel.close()
        for fd in (pidfd, master, resize_r, resize_w):
            os.close(fd)
