"""Where the embedded runtime keeps things under the data root, and the small file primitives it uses.

::

    <data root>/containers/<id>/       one container (removed by ``rm``)
        container.json                 the record: spec, name, created (written by the CLI, under the lock)
        state.json                     running/stopped, pids, exit code (written by the supervisor)
        run.json                       the resolved RunConfig of the last start
        container.log                  stdout/stderr records (see stream.py)
        supervisor.log                 the supervisor's own complaints
        hostname, hosts, resolv.conf   bind-mounted onto /etc/... in the container
        rootfs/                        overlay mount point (empty on the host), or the copied tree
        upper/, work/                  the overlay's upper and work dirs: the container's changes
    <data root>/containers/.locks/<id>.lock
    <data root>/containers/.trash/<id>.<pid>   a removed container's files, deleted by process <pid>
    <data root>/volumes/<name>/_data   named and anonymous volumes (see volumes.py)

Standard library only, and cheap to import: the supervisor and the fast CLI paths use it. Writes are
atomic (temporary file + rename); locks are ``flock`` (released by the kernel when a process dies).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time

TYPE_CHECKING = False  # (typing is not imported at run time: start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

RECORD = "container.json"


def containers_dir(data_root: str) -> str:
    return os.path.join(data_root, "containers")


def container_dir(data_root: str, container_id: str) -> str:
    return os.path.join(containers_dir(data_root), container_id)


def lock_path(state_dir: str) -> str:
    parent, cid = os.path.split(state_dir.rstrip("/"))
    return os.path.join(parent, ".locks", f"{cid}.lock")


class LockTimeout(OSError):
    pass


@contextlib.contextmanager
def locked(path: str, timeout: float = 60.0) -> Iterator[None]:
    """An exclusive flock on ``path`` (created if missing)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                if time.monotonic() >= deadline:
                    raise LockTimeout(errno.ETIMEDOUT, f"timed out waiting for the lock {path}") from None
                time.sleep(0.005)
        yield
    finally:
        os.close(fd)


def write_json(path: str, obj: Any, *, sync: bool = True) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        if sync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def write_text(path: str, text: str) -> None:
    """Rewrite in place (same inode): files bind-mounted into a container must keep their inode."""
    with open(path, "w") as f:
        f.write(text)


def read_json(path: str) -> Any:
    with open(path) as f:
        return json.load(f)


def find(data_root: str, id_or_name: str) -> str:
    """The ID of the container named ``id_or_name``, or with that ID or unique ID prefix."""
    base = containers_dir(data_root)
    if id_or_name and "/" not in id_or_name and os.path.exists(os.path.join(base, id_or_name, RECORD)):
        return id_or_name
    ids = [d for d in os.listdir(base) if not d.startswith(".")] if os.path.isdir(base) else []
    for cid in ids:
        with contextlib.suppress(OSError, ValueError, KeyError):
            if read_json(os.path.join(base, cid, RECORD))["name"] == id_or_name:
                return cid
    matches = [cid for cid in ids if id_or_name and cid.startswith(id_or_name)]
    from devenv.errors import ContainerError, ContainerNotFound

    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ContainerError(f"{id_or_name!r} matches several containers; give more of the ID")
    raise ContainerNotFound(f"no such container: {id_or_name}", remedy="`devenv container ls -a` lists the containers")


def mounts_below(path: str) -> list[str]:
    """Mount points at or below ``path`` in this process's mount namespace."""
    prefix = os.path.realpath(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix[:-1] or point.startswith(prefix):
                found.append(point)
    return found


def remove_container_files(state_dir: str, anonymous_volumes: list[str], *, lock: bool) -> None:
    """Delete a stopped container's directory (and its anonymous volumes). Refuses to descend into a
    mount, so a bind-mounted source can never be deleted through it."""
    trash = retire_container_files(state_dir, anonymous_volumes, lock=lock)
    if trash is not None:
        delete_tree(trash)


def retire_container_files(state_dir: str, anonymous_volumes: list[str], *, lock: bool) -> str | None:
    """Remove the container from view at once: its directory is renamed into ``containers/.trash`` (its
    name and ID are free from then on) and its anonymous volumes are deleted. Returns the renamed
    directory, for the caller to delete with :func:`delete_tree` (after answering whoever waits), or
    None. Refuses when something is mounted inside, so a bind-mounted source is never deleted."""
    ctx = locked(lock_path(state_dir)) if lock else contextlib.nullcontext()
    trash = None
    with ctx:
        if os.path.isdir(state_dir):
            busy = mounts_below(state_dir)
            if busy:
                raise OSError(errno.EBUSY, f"still mounted inside the container directory: {', '.join(busy)}")
            parent, cid = os.path.split(state_dir.rstrip("/"))
            trash = os.path.join(parent, ".trash", f"{cid}.{os.getpid()}")
            os.makedirs(os.path.dirname(trash), exist_ok=True)
            os.rename(state_dir, trash)
        data_root = os.path.dirname(os.path.dirname(state_dir.rstrip("/")))
        for name in anonymous_volumes:
            vol = os.path.join(data_root, "volumes", name)
            if os.path.isdir(vol) and not mounts_below(vol):
                delete_tree(vol)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lock_path(state_dir))
    return trash


def delete_tree(path: str) -> None:
    """Delete a retired container directory; also any left in ``.trash`` by a process that died."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    trash = os.path.dirname(path)
    if os.path.basename(trash) != ".trash":
        return
    with contextlib.suppress(OSError):
        for entry in os.listdir(trash):
            pid = entry.rpartition(".")[2]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                shutil.rmtree(os.path.join(trash, entry), ignore_errors=True)
