"""Small filesystem primitives every package uses: atomic writes and inter-process locks.

Nothing half-written is ever visible: writers go to a temporary file in the same directory, fsync,
then ``rename`` over the target. Locks are ``flock`` on a lock file, released by the kernel when the
process dies (so ``kill -9`` never leaves a stale lock).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devenv.errors import DevenvError


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644, *, sync: bool = True) -> None:
    """``sync=False``: no fsync, for state that a power loss makes stale anyway (what running containers
    use). Still atomic for other processes; after a power loss the file may be the old one, the new one
    or empty (readers of such state treat an empty file as missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # (as tempfile.mkstemp, without importing tempfile, shutil and random: milliseconds for short commands)
    tmp = os.path.join(path.parent, f".{path.name}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, mode: int = 0o644, *, sync: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode, sync=sync)


def atomic_write_json(path: Path, obj: Any, mode: int = 0o644, *, sync: bool = True) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", mode, sync=sync)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class LockTimeout(DevenvError):
    pass


def try_hold_lock(path: str) -> int | None:
    """An exclusive flock on the lock file ``path`` (created if missing), held through the returned
    descriptor until it is closed or the process ends; None when another process holds it.

    For locks held for a process's life (the network agent's, a starter's): the holder unlinks its lock
    file before it lets go, so that lock files of what is gone do not pile up. A lock won on such an
    unlinked file (opened before the unlink) locks nothing anyone else sees: it is dropped and taken again
    on the file the path names now."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        held = os.fstat(fd)
        try:
            named = os.stat(path)
        except FileNotFoundError:
            named = None
        if named is not None and (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino):
            return fd
        os.close(fd)


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False, timeout: float | None = 300.0, what: str = "") -> Iterator[None]:
    """Hold an flock on ``path`` (created if missing). ``timeout=None`` waits forever."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        op = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, op | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"timed out waiting for the lock on {what or path}",
                        remedy="another devenv process holds it; wait for it to finish or stop it",
                    ) from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)
