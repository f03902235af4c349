"""Turn a directory into a layer tarball — the other direction of :mod:`devenv.snapshots.unpack`.

* :func:`write_dir_tar` tars an overlayfs upper directory (or any layer directory in overlay format):
  0/0 character devices become ``.wh.NAME`` whiteouts, ``trusted.overlay.opaque=y`` becomes
  ``DIR/.wh..wh..opq``; owners, modes, xattrs (not ``trusted.overlay.*``), symlinks, hardlinks and
  devices are kept. Entries are sorted, names relative (``etc/passwd``), user/group names empty, so
  the same tree gives the same bytes (``mtime`` can be clamped for reproducible layers).
* :func:`write_files_tar` tars an explicit list of :class:`FileEntry` (the builder's COPY, features).
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from devenv.snapshots.unpack import OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX

_SKIP_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


def _xattrs(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in sorted(names):
        if name.startswith(_SKIP_XATTR_PREFIXES):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return out


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _tarinfo(name: str, st: os.stat_result, mtime_max: float | None) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(min(st.st_mtime, mtime_max) if mtime_max is not None else st.st_mtime)
    return ti


def write_dir_tar(src: Path, out: IO[bytes], *, mtime_max: float | None = None) -> int:
    """Write ``src`` (overlay-format layer dir) as an uncompressed tar to ``out``; returns entries written."""
    count = 0
    seen_inodes: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:

        def walk(dir_path: str, rel: str) -> None:
            nonlocal count
            with os.scandir(dir_path) as it:
                entries = sorted(it, key=lambda e: e.name)
            for entry in entries:
                name = f"{rel}{entry.name}"
                st = entry.stat(follow_symlinks=False)
                if is_whiteout(st):
                    wh = tarfile.TarInfo(f"{rel}{WHITEOUT_PREFIX}{entry.name}")
                    wh.mtime = _tarinfo(name, st, mtime_max).mtime
                    tar.addfile(wh)
                    count += 1
                    continue
                ti = _tarinfo(name, st, mtime_max)
                ti.pax_headers = _xattrs(entry.path)
                fileobj = None
                if stat.S_ISDIR(st.st_mode):
                    ti.type = tarfile.DIRTYPE
                elif stat.S_ISLNK(st.st_mode):
                    ti.type = tarfile.SYMTYPE
                    ti.linkname = os.readlink(entry.path)
                elif stat.S_ISREG(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    if st.st_nlink > 1 and key in seen_inodes:
                        ti.type = tarfile.LNKTYPE
                        ti.linkname = seen_inodes[key]
                    else:
                        seen_inodes[key] = name
                        ti.size = st.st_size
                        fileobj = open(entry.path, "rb")  # noqa: SIM115 - closed below
                elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    ti.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                    ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                elif stat.S_ISFIFO(st.st_mode):
                    ti.type = tarfile.FIFOTYPE
                else:
                    continue  # sockets cannot be in a layer
                try:
                    tar.addfile(ti, fileobj)
                finally:
                    if fileobj is not None:
                        fileobj.close()
                count += 1
                if stat.S_ISDIR(st.st_mode):
                    if is_opaque(entry.path):
                        opq = tarfile.TarInfo(f"{name}/{OPAQUE_MARKER}")
                        opq.mtime = ti.mtime
                        tar.addfile(opq)
                        count += 1
                    walk(entry.path, f"{name}/")

        walk(str(src), "")
    return count


@dataclass(frozen=True)
class FileEntry:
    """One entry of a layer built from files: ``path`` inside the image (``/usr/local/bin/x``).

    ``kind``: ``file`` (content from ``data`` or ``source``), ``dir``, ``symlink`` (``linkname``),
    ``whiteout`` (delete ``path`` from lower layers).
    """

    path: str
    kind: str = "file"
    data: bytes | None = None
    source: Path | None = None
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    linkname: str = ""
    mtime: float = 0.0


def write_files_tar(entries: Iterable[FileEntry], out: IO[bytes]) -> int:
    """Write the entries (parents first, as given) as an uncompressed tar; returns entries written."""
    count = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            name = e.path.strip("/")
            if e.kind == "whiteout":
                parent, _, base = name.rpartition("/")
                ti = tarfile.TarInfo(f"{parent}/{WHITEOUT_PREFIX}{base}" if parent else f"{WHITEOUT_PREFIX}{base}")
                tar.addfile(ti)
                count += 1
                continue
            ti = tarfile.TarInfo(name)
            ti.mode, ti.uid, ti.gid, ti.mtime = e.mode, e.uid, e.gid, int(e.mtime)
            if e.kind == "dir":
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
            elif e.kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = e.linkname
                tar.addfile(ti)
            elif e.kind == "file":
                if e.source is not None:
                    ti.size = e.source.stat().st_size
                    with open(e.source, "rb") as f:
                        tar.addfile(ti, f)
                else:
                    import io

                    data = e.data or b""
                    ti.size = len(data)
                    tar.addfile(ti, io.BytesIO(data))
            else:
                raise ValueError(f"unknown file entry kind {e.kind!r}")
            count += 1
    return count
