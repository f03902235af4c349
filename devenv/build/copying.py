"""COPY/ADD: the files of a layer, computed from the sources and the layer state they land on.

Rules as Docker's: a directory source copies its *contents*; a file lands at ``dest`` or, when ``dest``
ends with ``/`` or is an existing directory, at ``dest/<name>``; symlinks in the existing parent path
are followed inside the image (``/bin`` → ``/usr/bin``); missing parents are created (0755, owned by
``--chown``); owners are 0:0 unless ``--chown``; modes come from the source unless ``--chmod``; ADD
extracts local tar archives (plain, gzip, bzip2, xz) into the destination directory and writes URL
downloads with mode 0600.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import stat
import tarfile
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devenv.build import rootfs
from devenv.build.context import clean_source, has_wildcards
from devenv.build.plan import CopyAction
from devenv.errors import BuildError
from devenv.runtime.embedded import securejoin
from devenv.snapshots.diff import FileEntry


@dataclass
class _Writer:
    dest_root: Path
    uid: int
    gid: int
    chmod: int | None
    chowned: bool
    entries: dict[str, FileEntry] = field(default_factory=dict)
    allowed: set[str] | None = None  # host paths that may be copied (the context after .dockerignore)

    def ensure_parents(self, path: str) -> None:
        for parent in rootfs.parent_chain(path):
            if parent in self.entries or rootfs.exists(self.dest_root, parent):
                continue
            self.entries[parent] = FileEntry(parent, "dir", mode=0o755, uid=self.uid, gid=self.gid)

    def place(self, path: str) -> str:
        """The real image path for ``path``: parents resolved through symlinks of the layer state."""
        parent = posixpath.dirname(path) or "/"
        real_parent = securejoin.resolve_in_root(self.dest_root, parent) if parent != "/" else "/"
        return posixpath.join(real_parent, posixpath.basename(path))

    def add(self, entry: FileEntry) -> None:
        self.ensure_parents(entry.path)
        self.entries[entry.path] = entry

    def mode(self, mode: int) -> int:
        return self.chmod if self.chmod is not None else mode

    def is_dir(self, path: str) -> bool:
        if path in self.entries:
            return self.entries[path].kind == "dir"
        real = securejoin.resolve_in_root(self.dest_root, path)
        return os.path.isdir(str(self.dest_root) + real)

    def copy_tree(self, source: Path, target: str, *, contents_only: bool) -> None:
        """Copy ``source`` (file, dir or symlink on the host) to image path ``target``."""
        if self.allowed is not None and str(source) not in self.allowed:
            return
        st = os.lstat(source)
        if stat.S_ISDIR(st.st_mode):
            if not contents_only or not self.is_dir(target):
                self.add(
                    FileEntry(
                        target,
                        "dir",
                        mode=self.mode(stat.S_IMODE(st.st_mode)),
                        uid=self.uid,
                        gid=self.gid,
                        mtime=st.st_mtime,
                    )
                )
            for name in sorted(os.listdir(source)):
                self.copy_tree(source / name, posixpath.join(target, name), contents_only=False)
        elif stat.S_ISLNK(st.st_mode):
            self.add(
                FileEntry(
                    target,
                    "symlink",
                    mode=0o777,
                    uid=self.uid,
                    gid=self.gid,
                    linkname=os.readlink(source),
                    mtime=st.st_mtime,
                )
            )
        elif stat.S_ISREG(st.st_mode):
            self.add(
                FileEntry(
                    target,
                    "file",
                    source=source,
                    mode=self.mode(stat.S_IMODE(st.st_mode)),
                    uid=self.uid,
                    gid=self.gid,
                    mtime=st.st_mtime,
                )
            )
        # sockets, fifos and devices are not copied

    def file_target(self, dest: str, name: str) -> str:
        if dest.endswith("/") or self.is_dir(dest.rstrip("/") or "/"):
            return self.place(posixpath.join(dest, name))
        return self.place(dest)

    def extract(self, archive: Path, dest: str) -> None:
        base = self.place(dest.rstrip("/") + "/x")
        base = posixpath.dirname(base)
        with tarfile.open(archive, mode="r:*") as tar:
            members = {m.name: m for m in tar.getmembers()}
            for m in tar.getmembers():
                name = posixpath.normpath("/" + m.name).lstrip("/")
                if not name or name == ".":
                    continue
                path = posixpath.join(base, name)
                uid, gid = (self.uid, self.gid) if self.chowned else (m.uid, m.gid)
                mode = self.mode(m.mode & 0o7777)
                if m.isdir():
                    self.add(FileEntry(path, "dir", mode=mode, uid=uid, gid=gid, mtime=m.mtime))
                elif m.issym():
                    self.add(
                        FileEntry(path, "symlink", mode=0o777, uid=uid, gid=gid, linkname=m.linkname, mtime=m.mtime)
                    )
                elif m.isfile() or m.islnk():
                    src = members.get(m.linkname) if m.islnk() else m
                    f = tar.extractfile(src) if src is not None else None
                    data = f.read() if f is not None else b""
                    self.add(FileEntry(path, "file", data=data, mode=mode, uid=uid, gid=gid, mtime=m.mtime))


def _is_archive(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(262 + 8)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return tarfile.is_tarfile(path)
    return head[257:262] == b"ustar"


def _matches(root: Path, pattern: str) -> Iterator[Path]:
    cleaned = clean_source(pattern)
    if not has_wildcards(cleaned):
        real = securejoin.resolve_in_root(root, "/" + cleaned) if cleaned else "/"
        full = Path(str(root) + real)
        if os.path.lexists(full):
            yield full
        return
    current = [root]
    for part in cleaned.split("/"):
        nxt: list[Path] = []
        for base in current:
            if not base.is_dir():
                continue
            if has_wildcards(part):
                nxt.extend(base / n for n in sorted(os.listdir(base)) if fnmatch.fnmatchcase(n, part))
            elif os.path.lexists(base / part):
                nxt.append(base / part)
        current = nxt
    yield from current


def copy_entries(
    action: CopyAction,
    *,
    dest_root: Path,
    context_root: Path | None,
    views: Mapping[str, Path],
) -> list[FileEntry]:
    """The entries of the layer a COPY/ADD writes. ``views``: mounted roots by ``stage:N`` / ``image:REF``."""
    uid, gid = rootfs.user_ids(dest_root, action.chown) if action.chown else (0, 0)
    w = _Writer(dest_root, uid, gid, action.chmod, bool(action.chown))
    dest = action.dest
    for src in action.sources:
        if src.kind == "inline":
            target = w.file_target(dest, src.path)
            w.add(FileEntry(target, "file", data=src.content.encode(), mode=w.mode(0o644), uid=uid, gid=gid))
        elif src.kind == "url":
            name = posixpath.basename(urllib.parse.urlparse(src.path).path) or "index.html"
            target = w.file_target(dest, name)
            w.add(FileEntry(target, "file", source=Path(src.local), mode=w.mode(0o600), uid=uid, gid=gid))
        elif src.kind == "context":
            if context_root is None:
                raise BuildError("COPY from the build context, but the build has no context")
            w.allowed = {str(context_root / e.rel) if e.rel else str(context_root) for e in src.entries}
            for rel in src.roots:
                full = context_root / rel if rel else context_root
                if os.path.islink(full):
                    resolved = os.path.realpath(full)
                    if resolved.startswith(str(context_root.resolve()) + os.sep) and os.path.exists(resolved):
                        full = Path(resolved)
                if full != (context_root / rel if rel else context_root):
                    w.allowed.add(str(full))
                _copy_one(w, full, dest, action.add, posixpath.basename(rel) if rel else "")
            w.allowed = None
        else:
            view = views[f"stage:{src.stage}" if src.kind == "stage" else f"image:{src.image}"]
            found = list(_matches(view, src.path))
            if not found:
                raise BuildError(f"COPY --from: {src.path!r} not found in {src.image or 'stage ' + str(src.stage)}")
            multiple = len(found) > 1
            if multiple and not dest.endswith("/"):
                raise BuildError(
                    "When using COPY with more than one source file, the destination must be a "
                    "directory and end with a /"
                )
            for full in found:
                _copy_one(w, full, dest, False, full.name)
    return list(w.entries.values())


def _copy_one(w: _Writer, full: Path, dest: str, add: bool, name: str) -> None:
    st = os.lstat(full)
    if stat.S_ISDIR(st.st_mode):
        target = w.place(dest.rstrip("/") or "/") if dest.rstrip("/") else "/"
        w.copy_tree(full, target, contents_only=True)
    elif add and stat.S_ISREG(st.st_mode) and _is_archive(full):
        w.extract(full, dest)
    else:
        w.copy_tree(full, w.file_target(dest, name or full.name), contents_only=False)
