"""Commit a RUN step's changes (the container's overlay upper directory) as a layer, fast.

Compressing is most of a commit: zlib's level 1 runs at a few tens of MB/s here, so a step that
leaves 150 MB behind (``apt-get update`` lists and caches) spent seconds in it. When ISA-L's ``igzip``
is installed (Debian package ``isal``, which ``scripts/install.sh`` installs), the tar stream is
compressed by an ``igzip -1`` child process while Python writes the tar and hashes it: the blob is an
ordinary gzip stream, several times faster to make. Without ``igzip``, :func:`layer_from_dir` does it
in-process. Either way the upper directory then becomes the step's snapshot by a rename.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from devenv.errors import BuildError
from devenv.oci import mediatypes as mt
from devenv.oci.descriptor import Descriptor
from devenv.oci.manifest import diff_ids_to_chain_ids
from devenv.store.commit import NewLayer, layer_from_dir
from devenv.store.store import Store

CHUNK = 1 << 20
COMPRESSOR = ("igzip", "-1", "-c")


class _TarToCompressor(io.RawIOBase):
    """Receives the uncompressed tar: hashes it (the DiffID) and feeds the compressor's stdin."""

    def __init__(self, stdin: IO[bytes]) -> None:
        super().__init__()
        self.stdin = stdin
        self.hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.hash.update(data)
        self.stdin.write(data)
        return len(data)


def commit_upper(store: Store, upper: Path, parent_chain_id: str, history: Mapping[str, Any] | None = None) -> NewLayer:
    """``upper`` → a gzip layer blob + the snapshot on top of ``parent_chain_id`` (``upper`` is moved)."""
    if shutil.which(COMPRESSOR[0]) is None:
        return layer_from_dir(store, upper, parent_chain_id, move=True, history=history)
    from devenv.snapshots.diff import write_dir_tar

    with (
        store.transaction(),
        store.blobs.writer() as w,
        subprocess.Popen(COMPRESSOR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc,
    ):
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        failure: list[BaseException] = []

        def pump(out: IO[bytes]) -> None:
            try:
                while chunk := out.read(CHUNK):
                    w.write(chunk)
            except BaseException as exc:  # reported below, in the caller's thread
                failure.append(exc)

        reader = threading.Thread(target=pump, args=(proc.stdout,), daemon=True)
        reader.start()
        sink = _TarToCompressor(proc.stdin)
        try:
            write_dir_tar(upper, sink)  # type: ignore[arg-type]  # a raw binary writer is all it needs
        except BaseException:
            proc.kill()
            raise
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            reader.join()
            code = proc.wait()
        if failure:
            raise failure[0]
        if code != 0:
            err = proc.stderr.read().decode(errors="replace").strip()
            raise BuildError(f"compressing the layer failed ({' '.join(COMPRESSOR)}: exit {code}) {err}".rstrip())
        diff_id = "sha256:" + sink.hash.hexdigest()
        size = w.size
        digest = w.commit()
        desc = Descriptor(mt.layer_media_type("gzip"), digest, size)
        chain_id = diff_ids_to_chain_ids([parent_chain_id, diff_id])[-1] if parent_chain_id else diff_id
        store.snapshots.commit_dir(chain_id, parent_chain_id, diff_id, upper)
    return NewLayer(desc, diff_id, chain_id, dict(history or {}))
