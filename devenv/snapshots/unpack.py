"""Apply a layer tarball to a directory — safely: layer tarballs are untrusted input.

Two ways to apply (``whiteouts``):

* ``"overlay"``: the directory is one overlayfs layer. ``.wh.NAME`` becomes a 0/0 character device,
  ``.wh..wh..opq`` the ``trusted.overlay.opaque=y`` xattr on its directory.
* ``"apply"``: the directory is a full rootfs (copy fallback): whiteouts delete what they name, an
  opaque marker empties its directory of everything earlier layers put there.

Containment: entry names are cleaned as if rooted at the directory (``/etc/x`` → ``etc/x``); a name
or hardlink target whose ``..`` climbs above the root rejects the layer. Parent directories are
resolved one component at a time *inside* the root: a symlink planted by an earlier entry is followed
as a chroot would (``/``→ the root, ``..`` clamped at the root), so nothing is ever written outside.
The final component is never followed: an existing file or symlink there is replaced. Symlink targets
are data and kept verbatim. xattrs of the overlay namespace are never taken from a tarball.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from devenv.errors import StoreError

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
_FORBIDDEN_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
MAX_SYMLINK_HOPS = 40

Whiteouts = Literal["overlay", "apply"]


class UnsafeLayer(StoreError):
    """A layer tried to write outside its root (path traversal); the layer is rejected."""


@dataclass
class ApplyStats:
    entries: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)  # entries we could not create (e.g. devices as non-root)


def clean_parts(name: str, *, what: str = "entry") -> list[str]:
    """``./a/b/../c/`` → ``["a", "c"]``; absolute names are rooted; climbing above the root raises."""
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafeLayer(
                    f"layer {what} {name!r} points outside the image root (path traversal); the layer is rejected",
                    remedy="this image is malformed or malicious; do not use it",
                )
            parts.pop()
            continue
        parts.append(part)
    return parts


class Applier:
    """Applies tar entries under ``root`` (which must exist)."""

    def __init__(self, root: Path, whiteouts: Whiteouts = "overlay") -> None:
        self.root = str(root)
        self.whiteouts = whiteouts
        self.is_root = os.geteuid() == 0
        self.stats = ApplyStats()
        self._dir_times: list[tuple[str, float, int | None]] = []
        self.umask = _umask()
        # A directory we start empty: a path we did not create cannot exist (saves an lstat per entry).
        self.fresh = not os.listdir(self.root)
        self._created: set[tuple[str, ...]] = set()  # paths this layer wrote (for "apply" opaque dirs)
        # requested parent parts → (real path, real parts): directories already resolved in this layer
        self._dirs: dict[tuple[str, ...], tuple[str, tuple[str, ...]]] = {(): (self.root, ())}

    def _path(self, rel: Iterable[str]) -> str:
        return os.path.join(self.root, *rel)

    # -- path resolution inside the root ------------------------------------------------------------
    def resolve_dir(self, parts: Sequence[str], *, create: bool = True) -> tuple[str, tuple[str, ...]]:
        """The real directory for ``parts`` under the root, following symlinks as a chroot would."""
        key = tuple(parts)
        hit = self._dirs.get(key)
        if hit is not None:
            return hit
        start = len(key) - 1
        while key[:start] not in self._dirs:
            start -= 1
        _, base = self._dirs[key[:start]]
        cur = list(base)
        todo = list(key[start:])
        hops = 0
        while todo:
            comp = todo.pop(0)
            if comp in ("", "."):
                continue
            if comp == "..":
                if cur:
                    cur.pop()
                continue
            path = self._path([*cur, comp])
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(path, 0o755)
                cur.append(comp)
                self._created.add(tuple(cur))
                continue
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise UnsafeLayer(f"too many levels of symbolic links under {'/'.join([*cur, comp])!r}")
                target = os.readlink(path)
                if target.startswith("/"):
                    cur = []
                todo = target.split("/") + todo
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise StoreError(f"layer entry needs {'/'.join([*cur, comp])!r} to be a directory, but it is a file")
            cur.append(comp)
        result = (self._path(cur), tuple(cur))
        self._dirs[key] = result
        return result

    def _forget(self, rel: tuple[str, ...]) -> None:
        """Drop cached resolutions that went through ``rel`` (it is being removed or replaced)."""
        n = len(rel)
        stale = [k for k, (_, real) in self._dirs.items() if k and (k[:n] == rel or real[:n] == rel)]
        for k in stale:
            del self._dirs[k]

    def _remove(self, path: str, rel: tuple[str, ...]) -> bool:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        self._forget(rel)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return True

    # -- entries --------------------------------------------------------------------------------------
    def apply(self, tar: tarfile.TarFile) -> ApplyStats:
        for member in tar:
            self.stats.entries += 1
            self.entry(tar, member)
        self.finish()
        return self.stats

    def entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = clean_parts(member.name)
        if not parts:  # the root itself
            if member.isdir():
                self._metadata(self.root, member)
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parts[:-1], base)
            return
        parent, parent_rel = self.resolve_dir(parts[:-1])
        path = os.path.join(parent, base)
        rel = (*parent_rel, base)
        existing = None
        if not self.fresh or rel in self._created:  # in a fresh directory only what we made can exist
            try:
                existing = os.lstat(path)
            except FileNotFoundError:
                existing = None
        is_dir = member.isdir()
        if existing is not None and not (is_dir and stat.S_ISDIR(existing.st_mode)):
            self._remove(path, rel)
            existing = None
        self._created.add(rel)
        if is_dir:
            if existing is None:
                os.mkdir(path, (member.mode & 0o777) if self.is_root else 0o700)
                self._metadata(path, member, fresh=True)
            else:
                self._metadata(path, member)
        elif member.isreg():
            self._write_file(tar, member, path)
        elif member.issym():
            os.symlink(member.linkname, path)
            self._metadata(path, member, fresh=True)
        elif member.islnk():
            self._hardlink(member, path)  # a hardlink shares the metadata of its target
        elif member.ischr() or member.isblk() or member.isfifo():
            if self._mknod(member, path):
                self._metadata(path, member)
        else:
            self.stats.skipped.append(member.name)

    def _needs_chmod(self, mode: int) -> bool:
        """True when creating with ``mode`` (through the umask) does not give ``mode`` exactly."""
        return bool(mode & 0o7000) or bool(mode & self.umask)

    def _write_file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
        mode = member.mode & 0o7777
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode & 0o777)
        try:
            if member.size:
                src = tar.extractfile(member)
                if src is not None:
                    while chunk := src.read(1 << 20):
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(fd, view) :]
            if self.is_root and (member.uid or member.gid):
                os.fchown(fd, member.uid, member.gid)
            if member.pax_headers:
                self._xattrs(fd, member)
            if self._needs_chmod(mode):
                os.fchmod(fd, mode)  # after chown, which clears set-id bits
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)
        self.stats.bytes += member.size

    def _hardlink(self, member: tarfile.TarInfo, path: str) -> None:
        target_parts = clean_parts(member.linkname, what="hardlink target")
        if not target_parts:
            raise UnsafeLayer(f"layer hardlink {member.name!r} points at the image root; the layer is rejected")
        try:
            tparent, _ = self.resolve_dir(target_parts[:-1], create=False)
            source = os.path.join(tparent, target_parts[-1])
            st = os.lstat(source)
        except FileNotFoundError:
            raise StoreError(
                f"layer hardlink {member.name!r} → {member.linkname!r}: the target is not in this layer"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            raise UnsafeLayer(f"layer hardlink {member.name!r} points at a directory; the layer is rejected")
        os.link(source, path, follow_symlinks=False)

    def _mknod(self, member: tarfile.TarInfo, path: str) -> bool:
        if member.isfifo():
            os.mkfifo(path, 0o600)
            return True
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        try:
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        except PermissionError:
            self.stats.skipped.append(member.name)  # not root: devices cannot be created
            return False
        return True

    def _metadata(self, path: str, member: tarfile.TarInfo, *, fresh: bool = False) -> None:
        """Owner, xattrs, mode, mtime. ``fresh``: just created by us with the right mode (as root)."""
        is_link = member.issym()
        if self.is_root and (not fresh or member.uid or member.gid):
            os.lchown(path, member.uid, member.gid)
        if member.pax_headers:
            self._xattrs(path, member)
        mode = member.mode & 0o7777
        if member.isdir():
            if not self.is_root:  # keep the directory writable for its children: mode set at the end
                self._dir_times.append((path, float(member.mtime), mode))
                return
            if not fresh or self._needs_chmod(mode):
                os.chmod(path, mode)
            self._dir_times.append((path, float(member.mtime), None))
            return
        if not is_link:
            os.chmod(path, mode)
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)

    def _xattrs(self, target: str | int, member: tarfile.TarInfo) -> None:
        for key, value in member.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                self._setxattr(target, key[len("SCHILY.xattr.") :], value)

    def _setxattr(self, target: str | int, name: str, value: str) -> None:
        if name.startswith(_FORBIDDEN_XATTR_PREFIXES):
            return
        raw = value.encode("utf-8", "surrogateescape")
        try:
            if isinstance(target, int):
                os.setxattr(target, name, raw)
            else:
                os.setxattr(target, name, raw, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES):
                raise

    def _whiteout(self, parent_parts: list[str], base: str) -> None:
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            if base == OPAQUE_MARKER:
                parent, parent_rel = self.resolve_dir(parent_parts)
                if self.whiteouts == "overlay":
                    os.setxattr(parent, OVERLAY_OPAQUE_XATTR, b"y", follow_symlinks=False)
                else:
                    for child in os.listdir(parent):
                        if (*parent_rel, child) not in self._created:
                            self._remove(os.path.join(parent, child), (*parent_rel, child))
            return  # other .wh..wh. names are aufs metadata
        name = base[len(WHITEOUT_PREFIX) :]
        if not name or "/" in name or name in (".", ".."):
            raise UnsafeLayer(f"invalid whiteout {base!r}")
        if self.whiteouts == "overlay":
            parent, parent_rel = self.resolve_dir(parent_parts)
            target = os.path.join(parent, name)
            self._remove(target, (*parent_rel, name))
            self._created.add((*parent_rel, name))
            try:
                os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            except PermissionError:
                raise StoreError(
                    "cannot create an overlay whiteout (a 0/0 character device) without root",
                    remedy="run devenv as root (unpacking images without root is not supported yet)",
                ) from None
        else:
            try:
                parent, parent_rel = self.resolve_dir(parent_parts, create=False)
            except FileNotFoundError:
                return
            self._remove(os.path.join(parent, name), (*parent_rel, name))

    def finish(self) -> None:
        for path, mtime, mode in reversed(self._dir_times):
            try:
                if mode is not None:
                    os.chmod(path, mode)
                os.utime(path, (mtime, mtime), follow_symlinks=False)
            except FileNotFoundError:
                continue
        self._dir_times.clear()


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def apply_tar(stream: IO[bytes], root: Path, whiteouts: Whiteouts = "overlay") -> ApplyStats:
    """Apply an uncompressed tar stream to ``root`` (created if missing)."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as tar:
            return Applier(root, whiteouts).apply(tar)
    except tarfile.TarError as exc:
        raise StoreError(f"the layer is not a valid tar archive: {exc}") from None
