"""Layer streams: decompress (gzip, zstd, none) and hash the uncompressed bytes (the layer's DiffID).

Decompression runs in a helper thread (zlib and zstd release the GIL), so it overlaps with writing
files; the consumer (tarfile) reads from an in-memory queue of decompressed chunks.
"""

from __future__ import annotations

import hashlib
import io
import queue
import threading
import zlib
from collections.abc import Iterator
from typing import IO

from devenv.errors import StoreError

CHUNK = 1 << 20
_END = b""


def _decompressed_chunks(raw: IO[bytes], compression: str) -> Iterator[bytes]:
    if compression == "":
        while chunk := raw.read(CHUNK):
            yield chunk
        return
    if compression == "gzip":
        d = zlib.decompressobj(wbits=31)
        while True:
            data = raw.read(CHUNK)
            if not data:
                break
            while data:
                out = d.decompress(data)
                if out:
                    yield out
                if d.eof:  # gzip allows several members back to back
                    data = d.unused_data
                    d = zlib.decompressobj(wbits=31)
                    if data and data.strip(b"\0") == b"":
                        data = b""
                else:
                    data = b""
        tail = d.flush()
        if tail:
            yield tail
        return
    if compression == "zstd":
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        while chunk := reader.read(CHUNK):
            yield chunk
        return
    raise StoreError(f"unsupported layer compression {compression!r}")


class LayerReader(io.RawIOBase):
    """A readable stream of the uncompressed layer; ``diff_id()`` once fully read."""

    def __init__(self, raw: IO[bytes], compression: str) -> None:
        super().__init__()
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=16)
        self._buf = memoryview(b"")
        self._hash = hashlib.sha256()
        self._done = False
        self._stop = threading.Event()
        self.size = 0
        self._thread = threading.Thread(target=self._produce, args=(raw, compression), daemon=True)
        self._thread.start()

    def _produce(self, raw: IO[bytes], compression: str) -> None:
        try:
            for chunk in _decompressed_chunks(raw, compression):
                self._hash.update(chunk)
                self.size += len(chunk)
                while not self._stop.is_set():
                    try:
                        self._queue.put(chunk, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._queue.put(_END)
        except (zlib.error, OSError, EOFError, ValueError) as exc:
            self._queue.put(StoreError(f"cannot decompress the layer: {exc}"))
        except BaseException as exc:  # zstandard raises its own error type
            self._queue.put(StoreError(f"cannot decompress the layer: {exc}"))

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        """Make sure the buffer holds data; False at the end of the stream."""
        while not self._buf:
            if self._done:
                return False
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._done = True
                raise item
            if item == _END:
                self._done = True
                return False
            self._buf = memoryview(item)
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._fill():
            return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        parts: list[bytes] = []
        want = size
        while want > 0 and self._fill():
            take = min(want, len(self._buf))
            parts.append(bytes(self._buf[:take]))
            self._buf = self._buf[take:]
            want -= take
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def drain(self) -> None:
        """Read to the end (tar readers stop at the end-of-archive marker; the DiffID covers all bytes)."""
        while self.read(CHUNK):
            pass

    def diff_id(self) -> str:
        self.drain()
        self._thread.join()
        return "sha256:" + self._hash.hexdigest()

    def close(self) -> None:
        self._stop.set()
        while True:  # unblock the producer
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        super().close()


class PipeAborted(StoreError):
    """The producer of a ChunkPipe gave up (its download restarted or failed)."""


class ChunkPipe(io.RawIOBase):
    """Bytes handed from one thread (a download) to another (an unpack) through a bounded queue.

    If the reader stops early (``reader_done``), later writes are dropped instead of blocking.
    """

    def __init__(self, maxsize: int = 32) -> None:
        super().__init__()
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=maxsize)
        self._reader_gone = threading.Event()
        self._buf = memoryview(b"")
        self._eof = False

    # -- producer side ---------------------------------------------------------------------------
    def _put(self, item: bytes | BaseException) -> None:
        while not self._reader_gone.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def feed(self, data: bytes) -> None:
        if data and not self._reader_gone.is_set():
            self._put(bytes(data))

    def finish(self) -> None:
        self._put(_END)

    def abort(self, why: str) -> None:
        self._put(PipeAborted(why))

    # -- consumer side ---------------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        while not self._buf:
            if self._eof:
                return b""
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._eof = True
                raise item
            if item == _END:
                self._eof = True
                return b""
            self._buf = memoryview(item)
        n = len(self._buf) if size is None or size < 0 else min(size, len(self._buf))
        out = bytes(self._buf[:n])
        self._buf = self._buf[n:]
        return out

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def reader_done(self) -> None:
        """The consumer will read no more: unblock and silence the producer."""
        self._reader_gone.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
