"""Look into a stack of layers while building: a read-only overlay mount, and the image's users in it.

COPY needs the layer state it writes onto (does the destination exist and is it a directory? which
uid is user ``dev``?) and ``COPY --from`` reads another stage's files. Both mount the snapshots as a
read-only overlay on a private temporary directory for the duration of the step. Paths in it are
resolved with :func:`devenv.runtime.embedded.securejoin.resolve_in_root`: symlinks are followed
*inside* that root (``/bin`` → ``usr/bin``), never escaping it, as the container would see them; a
symlink loop met while the view is open is reported as a :class:`BuildError`.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from devenv.errors import BuildError
from devenv.paths import data_root
from devenv.runtime.embedded.securejoin import UnsafePath


def _tmp_root() -> Path:
    path = data_root() / "build" / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def mounted(layer_dirs: Sequence[Path]) -> Iterator[Path]:
    """A read-only view of ``layer_dirs`` (lowest first) at a temporary directory.

    A path that cannot be resolved in it (a symlink loop, :class:`UnsafePath`) ends the step with a
    :class:`BuildError` naming the path."""
    try:
        with _overlay(layer_dirs) as target:
            yield target
    except UnsafePath as exc:
        raise BuildError(f"{exc.strerror} resolving {exc.filename}") from exc


@contextlib.contextmanager
def _overlay(layer_dirs: Sequence[Path]) -> Iterator[Path]:
    target = Path(tempfile.mkdtemp(prefix="view-", dir=_tmp_root()))
    empty = target.with_name(target.name + ".empty")
    if not layer_dirs:
        try:
            yield target
        finally:
            with contextlib.suppress(OSError):
                target.rmdir()
        return
    empty.mkdir()
    lowers = [str(p) for p in reversed(layer_dirs)]
    if len(lowers) == 1:
        lowers.append(str(empty))
    base = os.path.commonpath(lowers)
    rel = [os.path.relpath(p, base) for p in lowers]
    proc = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", f"ro,lowerdir={':'.join(rel)}", str(target)],
        cwd=base,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        target.rmdir()
        empty.rmdir()
        raise BuildError(f"cannot mount the layers to read them: {proc.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)
        with contextlib.suppress(OSError):
            target.rmdir()
        with contextlib.suppress(OSError):
            empty.rmdir()


def _lookup(root: Path, file: str, name: str, field_count: int) -> list[str] | None:
    try:
        text = (root / file.lstrip("/")).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= field_count and (fields[0] == name or (name.isdigit() and fields[2] == name)):
            return fields
    return None


def user_ids(root: Path, spec: str) -> tuple[int, int]:
    """``user[:group]`` (names or numbers) → (uid, gid), looked up in the image's passwd and group."""
    user, _, group = spec.partition(":")
    if user.isdigit():
        uid = int(user)
        gid = uid
    else:
        fields = _lookup(root, "/etc/passwd", user, 4)
        if fields is None:
            raise BuildError(f"unable to find user {user}: no matching entries in passwd file")
        uid, gid = int(fields[2]), int(fields[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            gfields = _lookup(root, "/etc/group", group, 3)
            if gfields is None:
                raise BuildError(f"unable to find group {group}: no matching entries in group file")
            gid = int(gfields[2])
    return uid, gid


def home_of(root: Path, user: str) -> str:
    fields = _lookup(root, "/etc/passwd", user, 6)
    return fields[5] if fields else ""


def exists(root: Path, image_path: str) -> bool:
    return os.path.lexists(str(root) + image_path)


def parent_chain(image_path: str) -> list[str]:
    """``/a/b/c`` → ``["/a", "/a/b"]``."""
    out = []
    cur = posixpath.dirname(image_path)
    while cur not in ("/", ""):
        out.append(cur)
        cur = posixpath.dirname(cur)
    return list(reversed(out))
