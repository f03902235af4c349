"""Snapshots: each layer unpacked once into ``<data root>/snapshots/<chain-id hex>/fs``.

A snapshot directory holds one layer in overlayfs format (whiteouts as 0/0 character devices,
opaque directories marked with ``trusted.overlay.opaque``) and ``meta.json`` (chain ID, parent,
DiffID). It is built in ``.tmp/`` and renamed into place, so a snapshot either exists whole or not
at all; ``.locks/<hex>.lock`` makes sure two processes never unpack the same layer at once.

Mounts for a layer stack (lowest first) come out as :class:`Mount` objects: ``layer_mounts``
(read-only binds, one per layer), ``overlay`` (one overlay mount), or — where overlayfs is not
available — ``copy_rootfs`` flattens the stack into a plain directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from devenv.errors import StoreError
from devenv.fsutil import atomic_write_json, file_lock, read_json
from devenv.oci.descriptor import check_digest
from devenv.paths import data_root
from devenv.snapshots import tarunpack
from devenv.snapshots.base import Mount
from devenv.snapshots.diff import write_dir_tar
from devenv.snapshots.streams import LayerReader
from devenv.snapshots.unpack import apply_tar


@dataclass(frozen=True)
class SnapshotInfo:
    chain_id: str
    parent: str  # chain ID of the layer below ("" for the bottom layer)
    diff_id: str
    created: float
    entries: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "parent": self.parent,
            "diff_id": self.diff_id,
            "created": self.created,
            "entries": self.entries,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> SnapshotInfo:
        return cls(
            str(obj["chain_id"]),
            str(obj.get("parent", "")),
            str(obj["diff_id"]),
            float(obj.get("created", 0)),
            int(obj.get("entries", 0)),
        )


class Snapshotter:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or data_root() / "snapshots"
        self.tmp = self.root / ".tmp"
        self.locks = self.root / ".locks"

    # -- lookup ------------------------------------------------------------------------------------
    def dir(self, chain_id: str) -> Path:
        return self.root / check_digest(chain_id)

    def fs(self, chain_id: str) -> Path:
        """The layer's directory (overlay format). Read-only by convention: never write into it."""
        return self.dir(chain_id) / "fs"

    def has(self, chain_id: str) -> bool:
        return (self.dir(chain_id) / "meta.json").is_file()

    def info(self, chain_id: str) -> SnapshotInfo:
        try:
            return SnapshotInfo.from_json(read_json(self.dir(chain_id) / "meta.json"))
        except FileNotFoundError:
            raise StoreError(f"snapshot {chain_id} does not exist", remedy="pull or load the image again") from None

    def chain_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted("sha256:" + e.name for e in os.scandir(self.root) if len(e.name) == 64)

    # -- creation ----------------------------------------------------------------------------------
    def _new_tmp(self, chain_id: str) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{check_digest(chain_id)[:12]}-{os.getpid()}-", dir=self.tmp))

    def _publish(self, tmp: Path, info: SnapshotInfo) -> SnapshotInfo:
        atomic_write_json(tmp / "meta.json", info.to_json())
        target = self.dir(info.chain_id)
        if target.exists():  # a leftover without meta.json (should not happen): replace it
            shutil.rmtree(target)
        os.rename(tmp, target)
        return info

    def unpack(
        self,
        chain_id: str,
        parent: str,
        diff_id: str,
        opener: Callable[[], IO[bytes]],
        compression: str,
    ) -> SnapshotInfo:
        """Unpack a layer blob (from ``opener()``) into the snapshot ``chain_id``, verifying its DiffID.

        Does nothing when the snapshot exists. Safe against concurrent callers and against kill -9.
        """
        self.locks.mkdir(parents=True, exist_ok=True)
        with file_lock(self.locks / f"{check_digest(chain_id)}.lock", timeout=None, what=f"snapshot {chain_id}"):
            if self.has(chain_id):
                return self.info(chain_id)
            tmp = self._new_tmp(chain_id)
            try:
                entries = 0
                with opener() as raw:
                    if tarunpack.available(compression):
                        actual = tarunpack.unpack_layer(raw, compression, tmp / "fs")
                    else:
                        reader = LayerReader(raw, compression)
                        try:
                            entries = apply_tar(reader, tmp / "fs", "overlay").entries  # type: ignore[arg-type]
                            actual = reader.diff_id()
                        finally:
                            reader.close()
                if actual != diff_id:
                    raise StoreError(
                        f"layer content does not match the image config: DiffID {actual}, expected {diff_id}",
                        remedy="the image is corrupted at its source; nothing was stored",
                    )
                info = SnapshotInfo(chain_id, parent, diff_id, time.time(), entries)
                return self._publish(tmp, info)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise

    def commit_dir(self, chain_id: str, parent: str, diff_id: str, source: Path) -> SnapshotInfo:
        """Make ``source`` (a layer directory in overlay format, e.g. an upper dir) the snapshot ``chain_id``.

        ``source`` is moved (renamed) when it is on the same filesystem, else copied; overlayfs
        bookkeeping xattrs other than ``opaque`` are removed.
        """
        self.locks.mkdir(parents=True, exist_ok=True)
        with file_lock(self.locks / f"{check_digest(chain_id)}.lock", timeout=None, what=f"snapshot {chain_id}"):
            if self.has(chain_id):
                return self.info(chain_id)
            tmp = self._new_tmp(chain_id)
            try:
                try:
                    os.rename(source, tmp / "fs")
                except OSError:
                    subprocess.run(["cp", "-a", "--", str(source), str(tmp / "fs")], check=True, capture_output=True)
                _strip_overlay_xattrs(tmp / "fs")
                return self._publish(tmp, SnapshotInfo(chain_id, parent, diff_id, time.time()))
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise

    def remove(self, chain_id: str) -> None:
        d = self.dir(chain_id)
        if not d.exists():
            return
        trash = self._new_tmp(chain_id)
        os.rename(d, trash / "old")  # atomic disappearance, then the slow delete
        shutil.rmtree(trash, ignore_errors=True)

    def clean_tmp(self) -> int:
        """Remove temporary directories of processes that are gone; returns how many."""
        removed = 0
        if not self.tmp.is_dir():
            return 0
        for entry in os.scandir(self.tmp):
            parts = entry.name.split("-")
            pid = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0
            if pid and _pid_alive(pid) and pid != os.getpid():
                continue
            if pid == os.getpid():
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
        return removed

    # -- mounts ------------------------------------------------------------------------------------
    def _require(self, chain_ids: Sequence[str]) -> None:
        for c in chain_ids:
            if not self.has(c):
                raise StoreError(
                    f"snapshot {c} is missing", remedy="run `devenv image pull` (or load) for this image again"
                )

    def layer_mounts(self, chain_ids: Sequence[str]) -> list[Mount]:
        """One read-only bind mount per layer, lowest first (``source`` is the layer directory)."""
        self._require(chain_ids)
        return [Mount("bind", str(self.fs(c)), ("rbind", "ro")) for c in chain_ids]

    def overlay(self, chain_ids: Sequence[str], upper: Path | None = None, work: Path | None = None) -> Mount:
        """One overlay mount of the stack (lowest first in ``chain_ids``). Without ``upper`` it is read-only."""
        self._require(chain_ids)
        if not chain_ids:
            raise StoreError("an overlay needs at least one layer")
        lowers = [self.fs(c) for c in chain_ids]
        if upper is None and len(lowers) == 1:
            empty = self.root / ".empty"
            empty.mkdir(parents=True, exist_ok=True)
            lowers.insert(0, empty)  # a read-only overlay needs two lower layers
        return overlay_mount(lowers, upper, work)

    def copy_rootfs(self, chain_ids: Sequence[str], dest: Path) -> Mount:
        """Flatten the stack into ``dest`` (the fallback where overlayfs is unavailable)."""
        self._require(chain_ids)
        dest.mkdir(parents=True, exist_ok=True)
        for c in chain_ids:
            flatten_layer(self.fs(c), dest)
        return Mount("bind", str(dest), ("rbind", "rw"))


def overlay_mount(lower_dirs: Sequence[Path], upper: Path | None = None, work: Path | None = None) -> Mount:
    """``Mount("overlay", ...)`` for directories given lowest first (overlayfs wants the top first)."""
    lowers = ":".join(str(p) for p in reversed(lower_dirs))
    opts = [f"lowerdir={lowers}"]
    if upper is not None:
        if work is None:
            raise StoreError("an overlay with an upper directory needs a work directory")
        opts += [f"upperdir={upper}", f"workdir={work}"]
    return Mount("overlay", "overlay", (*opts, "index=off", "redirect_dir=off", "metacopy=off"))


def flatten_layer(layer_dir: Path, dest: Path) -> None:
    """Apply one overlay-format layer directory onto a flat rootfs (whiteouts delete)."""
    r, w = os.pipe()
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            with open(w, "wb") as out:
                write_dir_tar(layer_dir, out)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    with open(r, "rb") as inp:
        try:
            apply_tar(inp, dest, "apply")
        finally:
            with contextlib.suppress(OSError):
                while inp.read(1 << 16):
                    pass
    t.join()
    if errors:
        raise errors[0]


def _strip_overlay_xattrs(root: Path) -> None:
    from devenv.snapshots.unpack import OVERLAY_OPAQUE_XATTR

    for dirpath, dirnames, filenames in os.walk(root):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            try:
                attrs = os.listxattr(name, follow_symlinks=False)
            except OSError:
                continue
            for attr in attrs:
                if attr.startswith("trusted.overlay.") and attr != OVERLAY_OPAQUE_XATTR:
                    with contextlib.suppress(OSError):
                        os.removexattr(name, attr, follow_symlinks=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
