"""The content store: blobs addressed by sha256, never visible half-written.

Layout under ``<data root>/store``::

    blobs/sha256/<hex>      committed content (read-only files)
    ingest/<hex>.partial    a download in progress (kept across kill -9: resumed by the next pull)
    ingest/<hex>.lock       held while one process writes that blob
    ingest/tmp-*            content of not-yet-known digest (new layers), removed by prune when stale

Writers stream into an ingest file, hashing as they go; ``commit`` checks size and digest, fsyncs,
then renames into ``blobs/`` (atomic). A mismatch deletes the ingest file and raises: nothing half-done
is ever visible under ``blobs/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from devenv.errors import StoreError
from devenv.fsutil import file_lock
from devenv.oci.descriptor import check_digest, sha256_digest

CHUNK = 1 << 20


class DigestMismatch(StoreError):
    pass


class Ingest:
    """A resumable write of a blob whose digest (and maybe size) is known in advance."""

    def __init__(self, store: BlobStore, digest: str, size: int | None) -> None:
        self.store = store
        self.digest = digest
        self.expected_size = size
        self.partial = store.ingest_dir / f"{check_digest(digest)}.partial"
        self._hash = hashlib.sha256()
        self._file: BinaryIO | None = None
        self.offset = 0

    def _open(self) -> None:
        """Open the partial file, hashing what an earlier (interrupted) attempt left."""
        self._file = open(self.partial, "a+b")  # noqa: SIM115 - closed in close()
        self._file.seek(0)
        size = 0
        while chunk := self._file.read(CHUNK):
            self._hash.update(chunk)
            size += len(chunk)
        if self.expected_size is not None and size > self.expected_size:
            self.reset()
            return
        self.offset = size

    def reset(self) -> None:
        """Start over (the server ignored our Range request, or the partial was bad)."""
        assert self._file is not None
        self._file.seek(0)
        self._file.truncate()
        self._hash = hashlib.sha256()
        self.offset = 0

    def write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._hash.update(data)
        self.offset += len(data)
        if self.expected_size is not None and self.offset > self.expected_size:
            raise DigestMismatch(f"blob {self.digest} is larger than the {self.expected_size} bytes announced")

    def commit(self) -> Path:
        """Verify and publish the blob; returns its path. On mismatch the partial is removed."""
        assert self._file is not None
        actual = "sha256:" + self._hash.hexdigest()
        if actual != self.digest or (self.expected_size is not None and self.offset != self.expected_size):
            self.discard()
            size_note = f", size {self.offset} (expected {self.expected_size})" if self.expected_size else ""
            raise DigestMismatch(
                f"content verification failed for {self.digest}: got {actual}{size_note}",
                remedy="the registry or the file served corrupted data; nothing was stored. "
                "Try again, or report it to whoever runs the registry",
            )
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.chmod(self.partial, 0o444)
        target = self.store.path(self.digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.partial, target)
        return target

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None


class BlobWriter:
    """Write content whose digest is not known yet (a new layer); ``commit`` names it by its digest."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        store.ingest_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="tmp-", dir=store.ingest_dir)
        self.tmp = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)
        return len(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def commit(self) -> str:
        digest = self.digest
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        target = self.store.path(digest)
        if target.exists():
            self.tmp.unlink()
        else:
            os.chmod(self.tmp, 0o444)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.tmp, target)
        return digest

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blob_dir = root / "blobs" / "sha256"
        self.ingest_dir = root / "ingest"

    def path(self, digest: str) -> Path:
        return self.blob_dir / check_digest(digest)

    def has(self, digest: str, size: int | None = None) -> bool:
        try:
            st = self.path(digest).stat()
        except FileNotFoundError:
            return False
        return size is None or st.st_size == size

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise StoreError(
                f"blob {digest} is missing from the store",
                remedy="pull the image again (devenv image pull) to fetch the missing content",
            ) from None

    def read_bytes(self, digest: str, *, verify: bool = True) -> bytes:
        with self.open(digest) as f:
            data = f.read()
        if verify and sha256_digest(data) != digest:
            raise StoreError(
                f"blob {digest} in the store is corrupted ({self.path(digest)})",
                remedy="remove the image (devenv image rm) and pull it again",
            )
        return data

    def put_bytes(self, data: bytes, expected: str | None = None) -> str:
        """Store small content (manifests, configs) at once; returns its digest."""
        digest = sha256_digest(data)
        if expected is not None and digest != expected:
            raise DigestMismatch(f"content verification failed: expected {expected}, got {digest}")
        if self.has(digest, len(data)):
            return digest
        with self.ingest(digest, len(data)) as ing:
            if ing is not None:
                ing.reset()
                ing.write(data)
                ing.commit()
        return digest

    @contextlib.contextmanager
    def ingest(self, digest: str, size: int | None = None) -> Iterator[Ingest | None]:
        """Exclusive, resumable write of ``digest``. Yields None when the blob is already stored.

        The caller writes from ``ing.offset`` on (or calls ``ing.reset()``), then ``ing.commit()``.
        Leaving the block without commit keeps the partial file for a later resume; an exception
        from a verification failure has already discarded it.
        """
        hex_ = check_digest(digest)
        self.ingest_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.ingest_dir / f"{hex_}.lock", timeout=None, what=f"the download of {digest}"):
            if self.has(digest, size):
                yield None
                return
            ing = Ingest(self, digest, size)
            ing._open()
            try:
                yield ing
            finally:
                ing.close()

    @contextlib.contextmanager
    def writer(self) -> Iterator[BlobWriter]:
        """Write new content; call ``commit()`` inside the block. Uncommitted content is discarded."""
        w = BlobWriter(self)
        try:
            yield w
        finally:
            if w.tmp.exists():
                w.discard()

    def delete(self, digest: str) -> int:
        """Remove a blob; returns the bytes freed (0 when absent)."""
        path = self.path(digest)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def digests(self) -> Iterator[str]:
        if not self.blob_dir.is_dir():
            return
        for entry in os.scandir(self.blob_dir):
            if len(entry.name) == 64 and not entry.name.startswith("."):
                yield "sha256:" + entry.name
