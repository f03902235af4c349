"""The caller's terminal: raw mode, window size, and forwarding signals to a process while it runs."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import termios
import tty
from collections.abc import Callable, Iterator
from types import FrameType

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def is_tty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def get_winsize(fd: int) -> tuple[int, int] | None:
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (rows, cols) if rows and cols else None


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Put the terminal ``fd`` in raw mode (Ctrl-C, Ctrl-D... go to the container as bytes); restore after."""
    if not is_tty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def signal_handlers(handler: Callable[[int], None], signals: tuple[int, ...] = FORWARDED_SIGNALS) -> Iterator[None]:
    """Call ``handler(signum)`` for ``signals`` while inside (the previous handlers come back after)."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        handler(signum)

    saved = {}
    for sig in signals:
        with contextlib.suppress(ValueError, OSError):  # not the main thread: no forwarding
            saved[sig] = signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)
