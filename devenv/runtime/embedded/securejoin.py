"""Resolve paths inside a container's root filesystem without ever leaving it.

A container can leave symlinks behind in its persistent upper dir (or in a shared volume) such as
``/data -> /../../etc``. Following them on the host side while mounts are set up would mount over, or
create files in, the host's own tree. :func:`resolve` follows symlinks as if ``root`` were ``/``
(as github.com/cyphar/filepath-securejoin does; the image builder uses :func:`resolve_in_root` the same
way to place COPY's files in a layer stack), and :func:`open_target` returns an ``O_PATH`` file
descriptor of the result, checked to be inside ``root``, so that a mount goes through
``/proc/self/fd/N`` onto exactly that inode even if the path is swapped afterwards.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import stat

MAX_SYMLINKS = 255


class UnsafePath(OSError):
    pass


def resolve_in_root(root: str | os.PathLike[str], unsafe: str) -> str:
    """``unsafe`` as seen with ``root`` as ``/``: an absolute path inside ``root``, every symlink (relative
    or absolute) and ``..`` resolved without leaving it. Parts that do not exist, or lie under a
    non-directory, are kept as written (creating or mounting them fails later with the real reason).
    A loop, or more than :data:`MAX_SYMLINKS` links, raises :class:`UnsafePath` (``ELOOP``)."""
    root = os.path.abspath(root)
    pending = [p for p in unsafe.split("/") if p not in ("", ".")]
    done: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_SYMLINKS:
                raise UnsafePath(errno.ELOOP, "too many levels of symbolic links", os.path.join("/", unsafe))
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
            continue
        done.append(part)
    return "/" + "/".join(done)


def resolve(root: str, unsafe: str) -> str:
    """``root`` joined with ``unsafe``, every symlink resolved relative to ``root``: the host path of
    :func:`resolve_in_root`. Missing parts are kept."""
    inner = resolve_in_root(root, unsafe)
    root = os.path.abspath(root)
    return root if inner == "/" else os.path.join(root, inner[1:])


def _inside(root: str, path: str) -> bool:
    root = os.path.abspath(root)
    return path == root or path.startswith(root.rstrip("/") + "/")


def ensure(root: str, unsafe: str, *, directory: bool = True, mode: int = 0o755) -> str:
    """Resolve ``unsafe`` in ``root`` and create what is missing (parents as directories; the leaf as a
    directory or an empty file). Returns the resolved host path."""
    path = resolve(root, unsafe)
    rel = posixpath.relpath(path, os.path.abspath(root))
    current = os.path.abspath(root)
    parts = [] if rel == "." else rel.split("/")
    for i, part in enumerate(parts):
        current = os.path.join(current, part)
        leaf = i == len(parts) - 1
        if os.path.lexists(current):
            if os.path.islink(current):  # swapped under us since resolve(): refuse
                raise UnsafePath(errno.ELOOP, "path changed while it was resolved", current)
            continue
        if leaf and not directory:
            fd = os.open(current, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            os.close(fd)
        else:
            with contextlib.suppress(FileExistsError):
                os.mkdir(current, mode)
    return path


def open_target(root: str, unsafe: str, *, directory: bool = True) -> int:
    """An ``O_PATH`` fd of ``unsafe`` inside ``root`` (created if missing), verified to be inside ``root``."""
    path = ensure(root, unsafe, directory=directory)
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    real = os.readlink(f"/proc/self/fd/{fd}")
    if not _inside(os.path.realpath(root), real):
        os.close(fd)
        raise UnsafePath(errno.EXDEV, f"{unsafe} resolves outside the container's root ({real})", unsafe)
    return fd
