"""The content store never shows half-written or unverified content, and resumes interrupted writes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from devenv.store.blobs import BlobStore, DigestMismatch


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_put_and_read_back(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    d = blobs.put_bytes(b"hello")
    assert d == _digest(b"hello")
    assert blobs.read_bytes(d) == b"hello" and blobs.has(d, 5) and not blobs.has(d, 6)
    assert oct(os.stat(blobs.path(d)).st_mode & 0o777) == "0o444"
    assert list(blobs.digests()) == [d]


def test_mismatch_commits_nothing_and_leaves_no_partial(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    want = _digest(b"good content")
    with pytest.raises(DigestMismatch) as info, blobs.ingest(want, 12) as ing:
        assert ing is not None
        ing.write(b"evil content")
        ing.commit()
    assert "verification failed" in info.value.message and info.value.remedy
    assert not blobs.has(want)
    assert list(blobs.ingest_dir.glob("*.partial")) == []


def test_oversize_stream_is_refused(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    with pytest.raises(DigestMismatch), blobs.ingest(_digest(b"abc"), 3) as ing:
        assert ing is not None
        ing.write(b"abcdef")


def test_interrupted_ingest_resumes_from_the_partial(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    digest = _digest(data)
    blobs = BlobStore(tmp_path)
    with blobs.ingest(digest, len(data)) as ing:  # an interrupted download: no commit
        assert ing is not None and ing.offset == 0
        ing.write(data[:100_000])
    assert not blobs.has(digest)
    with blobs.ingest(digest, len(data)) as ing:
        assert ing is not None and ing.offset == 100_000
        ing.write(data[ing.offset :])
        ing.commit()
    assert blobs.read_bytes(digest) == data
    with blobs.ingest(digest, len(data)) as ing:
        assert ing is None  # already stored


def test_corrupted_partial_is_detected_at_commit(tmp_path: Path) -> None:
    data = b"x" * 1000
    digest = _digest(data)
    blobs = BlobStore(tmp_path)
    blobs.ingest_dir.mkdir(parents=True)
    (blobs.ingest_dir / f"{digest[7:]}.partial").write_bytes(b"y" * 500)  # a bad leftover
    with pytest.raises(DigestMismatch), blobs.ingest(digest, len(data)) as ing:
        assert ing is not None and ing.offset == 500
        ing.write(data[500:])
        ing.commit()
    with blobs.ingest(digest, len(data)) as ing:  # the bad partial is gone: a clean restart works
        assert ing is not None and ing.offset == 0
        ing.write(data)
        ing.commit()
    assert blobs.has(digest, 1000)


def test_writer_names_content_by_its_digest_and_discards_uncommitted(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    with blobs.writer() as w:
        w.write(b"layer")
        d = w.commit()
    assert d == _digest(b"layer") and blobs.has(d)
    with blobs.writer() as w:
        w.write(b"abandoned")
    assert not blobs.has(_digest(b"abandoned"))
    assert list(blobs.ingest_dir.iterdir()) == []


def test_read_bytes_detects_bit_rot(tmp_path: Path) -> None:
    from devenv.errors import StoreError

    blobs = BlobStore(tmp_path)
    d = blobs.put_bytes(b"original")
    path = blobs.path(d)
    path.chmod(0o644)
    path.write_bytes(b"0riginal")
    with pytest.raises(StoreError) as info:
        blobs.read_bytes(d)
    assert "corrupted" in info.value.message
