"""The client side of an attached container (``devenv container run`` without ``-d``).

Relays between the caller's terminal (or stdio) and the supervisor's control channel until the
container exits: output frames to stdout/stderr, stdin to the container when it was started with
``-i``, window size changes with ``-t`` (the terminal in raw mode: Ctrl-C and Ctrl-D reach the
container as bytes), and signals to the container without ``-t`` (as ``docker run``'s sig-proxy).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal

from devenv.errors import ContainerError
from devenv.runtime.embedded import stream, terminal


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            import select

            select.select([], [fd], [], 1.0)
            continue
        view = view[n:]


def relay(
    channel: stream.Channel,
    *,
    tty: bool,
    stdin_open: bool,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
    stderr_fd: int = 2,
) -> int:
    """Relay until the container exits; returns its exit code."""
    sel = selectors.DefaultSelector()
    sel.register(channel.fileno(), selectors.EVENT_READ, "channel")
    unpolled_stdin = False  # a regular file or /dev/null (epoll refuses them): read between the waits
    if stdin_open:
        try:
            sel.register(stdin_fd, selectors.EVENT_READ, "stdin")
        except PermissionError:
            unpolled_stdin = True
    wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    sel.register(wake_r, selectors.EVENT_READ, "signal")
    pending_signals: list[int] = []

    def on_signal(sig: int) -> None:
        pending_signals.append(sig)
        with contextlib.suppress(OSError):
            os.write(wake_w, b"s")

    forwarded = (signal.SIGWINCH,) if tty else terminal.FORWARDED_SIGNALS
    try:
        with terminal.signal_handlers(on_signal, forwarded), terminal.raw_mode(stdin_fd if tty else -1):
            if tty:
                size = terminal.get_winsize(stdin_fd)
                if size:
                    channel.send(stream.resize_frame(*size))
            frames = channel.take_pending()
            while True:
                for kind, payload in frames:
                    if kind == stream.STDOUT:
                        _write_all(stdout_fd, payload)
                    elif kind == stream.STDERR:
                        _write_all(stderr_fd, payload)
                    elif kind == stream.EXIT:
                        return stream.parse_int(payload)
                    elif kind == stream.ERROR:
                        raise ContainerError(payload.decode(errors="replace"))
                frames = []
                if unpolled_stdin:
                    data = os.read(stdin_fd, 65536)
                    channel.send(stream.frame(stream.STDIN, data) if data else stream.frame(stream.STDIN_EOF))
                    unpolled_stdin = bool(data)
                for key, _ in sel.select(0 if unpolled_stdin else None):
                    if key.data == "channel":
                        got = channel.feed_available()
                        if got is None:
                            raise ContainerError(
                                "lost the connection to the container's supervisor before it exited",
                                remedy="`devenv container ls -a` shows its state; `devenv container logs` its output",
                            )
                        frames.extend(got)
                    elif key.data == "stdin":
                        data = os.read(stdin_fd, 65536)
                        if data:
                            channel.send(stream.frame(stream.STDIN, data))
                        else:
                            sel.unregister(stdin_fd)
                            channel.send(stream.frame(stream.STDIN_EOF))
                    else:
                        os.read(wake_r, 1024)
                        while pending_signals:
                            sig = pending_signals.pop(0)
                            if sig == signal.SIGWINCH:
                                size = terminal.get_winsize(stdin_fd)
                                if size:
                                    channel.send(stream.resize_frame(*size))
                            else:
                                channel.send(stream.int_frame(stream.SIGNAL, sig))
    finally:
        sel.close()
        os.close(wake_r)
        os.close(wake_w)
        channel.close()
