"""Two small binary formats: frames on the supervisor's control socket, and records of the container log.

Control frames (CLI ⇄ supervisor, over a socketpair created at start): ``>BI`` (type, length) + payload.
The supervisor sends STARTED or ERROR once the container's process has been exec'd (or failed), then,
to an attached client, STDOUT/STDERR as the container writes and EXIT with the exit code. A client
sends STDIN, STDIN_EOF, RESIZE (rows, cols) and SIGNAL (a number to deliver to the container).

Log records (``container.log``): ``>BdI`` (stream 1/2, unix time, length) + data, appended by the
supervisor with one ``write`` each, so a reader following the file sees whole records.
"""

from __future__ import annotations

import json
import os
import socket
import struct

TYPE_CHECKING = False  # (typing is not imported at run time: start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

STDIN, STDOUT, STDERR, STDIN_EOF, RESIZE, EXIT, ERROR, STARTED, SIGNAL = range(9)
_FRAME = struct.Struct(">BI")
_RECORD = struct.Struct(">BdI")
MAX_FRAME = 1 << 20


def frame(kind: int, payload: bytes = b"") -> bytes:
    return _FRAME.pack(kind, len(payload)) + payload


def json_frame(kind: int, obj: Any) -> bytes:
    return frame(kind, json.dumps(obj).encode())


def resize_frame(rows: int, cols: int) -> bytes:
    return frame(RESIZE, struct.pack(">HH", rows, cols))


def int_frame(kind: int, value: int) -> bytes:
    return frame(kind, struct.pack(">i", value))


def parse_int(payload: bytes) -> int:
    return int(struct.unpack(">i", payload)[0])


def parse_resize(payload: bytes) -> tuple[int, int]:
    rows, cols = struct.unpack(">HH", payload)
    return int(rows), int(cols)


class FrameReader:
    """Incremental decoder: feed bytes, take complete frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def idle(self) -> bool:
        """No partial frame is buffered."""
        return not self._buf

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out = []
        while len(self._buf) >= _FRAME.size:
            kind, length = _FRAME.unpack_from(self._buf)
            if length > MAX_FRAME:
                raise ValueError(f"frame too large ({length} bytes)")
            end = _FRAME.size + length
            if len(self._buf) < end:
                break
            out.append((kind, bytes(self._buf[_FRAME.size : end])))
            del self._buf[:end]
        return out


class Channel:
    """A socket speaking frames, keeping what was received beyond the frame asked for."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._reader = FrameReader()
        self._pending: list[tuple[int, bytes]] = []

    def fileno(self) -> int:
        return self.sock.fileno()

    def pending(self) -> bool:
        return bool(self._pending)

    def next(self) -> tuple[int, bytes] | None:
        """The next frame (blocking), or None at EOF."""
        while not self._pending:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return None
            self._pending.extend(self._reader.feed(data))
        return self._pending.pop(0)

    def feed_available(self) -> list[tuple[int, bytes]] | None:
        """After select() said readable: the frames now complete (None at EOF)."""
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            return None
        frames = self._pending + self._reader.feed(data)
        self._pending = []
        return frames

    def take_pending(self) -> list[tuple[int, bytes]]:
        frames, self._pending = self._pending, []
        return frames

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        self.sock.close()


def recv_frames(sock: socket.socket) -> Iterator[tuple[int, bytes]]:
    """Blocking iteration over the frames of ``sock`` until EOF."""
    reader = FrameReader()
    while True:
        data = sock.recv(65536)
        if not data:
            return
        yield from reader.feed(data)


def log_record(stream: int, when: float, data: bytes) -> bytes:
    return _RECORD.pack(stream, when, len(data)) + data


def read_log_records(fd: int, offset: int = 0) -> tuple[list[tuple[int, float, bytes]], int]:
    """Complete records from ``offset``; returns them and the offset after the last complete one."""
    size = os.fstat(fd).st_size
    if size <= offset:
        return [], offset
    data = os.pread(fd, size - offset, offset)
    out = []
    pos = 0
    while pos + _RECORD.size <= len(data):
        stream, when, length = _RECORD.unpack_from(data, pos)
        if pos + _RECORD.size + length > len(data):
            break
        start = pos + _RECORD.size
        out.append((int(stream), float(when), data[start : start + length]))
        pos = start + length
    return out, offset + pos
