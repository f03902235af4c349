"""Pure logic of the snapshot package: path cleaning, decompression + DiffID, the download→unpack pipe,
overlay mount options."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import threading
from pathlib import Path

import pytest
import zstandard

from devenv.errors import StoreError
from devenv.snapshots.snapshotter import overlay_mount
from devenv.snapshots.streams import ChunkPipe, LayerReader, PipeAborted
from devenv.snapshots.unpack import UnsafeLayer, clean_parts


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("./etc/passwd", ["etc", "passwd"]),
        ("/etc/passwd", ["etc", "passwd"]),
        ("a/b/../c/", ["a", "c"]),
        ("a/./b//c", ["a", "b", "c"]),
        ("./", []),
        ("a/..", []),
    ],
)
def test_clean_parts(name: str, parts: list[str]) -> None:
    assert clean_parts(name) == parts


@pytest.mark.parametrize("name", ["..", "../etc", "a/../../etc", "/../x"])
def test_clean_parts_refuses_climbing_out(name: str) -> None:
    with pytest.raises(UnsafeLayer):
        clean_parts(name)


DATA = os.urandom(3 << 20) + b"tail"
DIFF_ID = "sha256:" + hashlib.sha256(DATA).hexdigest()


@pytest.mark.parametrize(
    ("compression", "blob"),
    [
        ("", DATA),
        ("gzip", gzip.compress(DATA)),
        ("gzip", gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:])),  # several gzip members
        ("zstd", zstandard.ZstdCompressor().compress(DATA)),
    ],
)
def test_layer_reader_decompresses_and_hashes(compression: str, blob: bytes) -> None:
    reader = LayerReader(io.BytesIO(blob), compression)
    out = bytearray()
    while chunk := reader.read(70_000):
        out += chunk
    assert bytes(out) == DATA
    assert reader.diff_id() == DIFF_ID
    reader.close()


def test_layer_reader_diff_id_covers_unread_bytes() -> None:
    reader = LayerReader(io.BytesIO(gzip.compress(DATA)), "gzip")
    reader.read(10)
    assert reader.diff_id() == DIFF_ID  # drained to the end
    reader.close()


def test_corrupt_gzip_is_a_store_error() -> None:
    blob = bytearray(gzip.compress(DATA))
    blob[len(blob) // 2] ^= 0xFF
    reader = LayerReader(io.BytesIO(bytes(blob)), "gzip")
    with pytest.raises(StoreError):
        while reader.read(1 << 20):
            pass
    reader.close()


def test_chunk_pipe_hands_bytes_over_and_aborts() -> None:
    pipe = ChunkPipe(maxsize=2)

    def produce() -> None:
        for i in range(10):
            pipe.feed(bytes([i]) * 1000)
        pipe.finish()

    t = threading.Thread(target=produce)
    t.start()
    got = b""
    while chunk := pipe.read(300):
        got += chunk
    t.join()
    assert got == b"".join(bytes([i]) * 1000 for i in range(10))

    aborted = ChunkPipe()
    aborted.feed(b"x")
    aborted.abort("restarted")
    assert aborted.read() == b"x"
    with pytest.raises(PipeAborted):
        aborted.read()


def test_chunk_pipe_producer_never_blocks_once_the_reader_is_gone() -> None:
    pipe = ChunkPipe(maxsize=1)
    pipe.reader_done()
    for _ in range(100):  # would block forever on a full queue if the reader's departure were ignored
        pipe.feed(b"data")
    pipe.finish()


def test_overlay_mount_orders_lowers_top_first() -> None:
    m = overlay_mount([Path("/l/bottom"), Path("/l/top")], Path("/c/upper"), Path("/c/work"))
    assert m.type == "overlay"
    assert m.option("lowerdir") == "/l/top:/l/bottom"
    assert m.option("upperdir") == "/c/upper" and m.option("workdir") == "/c/work"
    with pytest.raises(StoreError):
        overlay_mount([Path("/a")], Path("/u"), None)
