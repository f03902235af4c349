"""The container's filesystem view, built inside its new mount namespace by its init process.

Order (as runc's ``rootfs_linux.go``): make every mount private; mount the root (overlay over the
image's lower dirs with the container's upper dir, or a bind of a copied tree); mount /proc, /dev
(tmpfs with the standard nodes, devpts ``newinstance``, shm, mqueue), /sys read-only (and the cgroup
hierarchies read-only); the user's mounts; the managed /etc/hostname, /etc/hosts, /etc/resolv.conf;
then ``pivot_root`` and, inside, mask and make read-only the /proc and /sys paths Docker masks.

Nothing is mounted in the host's namespace, so nothing is left behind when the container's last
process exits: the kernel drops the namespace and its mounts. All targets are resolved with
:mod:`securejoin` and mounted through ``/proc/self/fd/N``.
"""

from __future__ import annotations

import contextlib
import os
import stat

from devenv.runtime.embedded import securejoin
from devenv.runtime.embedded.config import MountEntry, RunConfig
from devenv.runtime.embedded.syscalls import (
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_STRICTATIME,
    Syscalls,
)

# (name, major, minor): the nodes every container gets (mode 0666), as Docker.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
DEV_SYMLINKS = (
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("/proc/kcore", "core"),
    ("pts/ptmx", "ptmx"),
)
MAX_MOUNT_DATA = 4000  # the kernel copies one page of mount options


class SetupError(Exception):
    """A step of the filesystem setup failed; the message names the step and the path."""


def overlay_options(lower: list[str], upper: str, work: str) -> tuple[str, str | None]:
    """Overlay mount data for ``lower`` (lowest first) and the directory to run the mount from.

    When absolute paths would not fit the one page the kernel accepts, the paths are made relative to
    their common parent and the mount is done from there (as Docker's overlay2 shortens its paths).
    """
    top_first = list(reversed(lower))
    data = f"lowerdir={':'.join(top_first)},upperdir={upper},workdir={work}"
    if len(data) <= MAX_MOUNT_DATA:
        return data, None
    base = os.path.commonpath([*top_first, upper, work])
    rel = [os.path.relpath(p, base) for p in top_first]
    data = f"lowerdir={':'.join(rel)},upperdir={os.path.relpath(upper, base)},workdir={os.path.relpath(work, base)}"
    if len(data) > MAX_MOUNT_DATA:
        raise SetupError(f"too many image layers for one overlay mount ({len(lower)} lower directories)")
    return data, base


def _mount_at(
    sys: Syscalls,
    root: str,
    target: str,
    source: str | None,
    fstype: str | None,
    flags: int,
    data: str | None = None,
    *,
    directory: bool = True,
) -> None:
    try:
        fd = securejoin.open_target(root, target, directory=directory)
    except OSError as exc:
        raise SetupError(f"cannot prepare mount point {target}: {exc.strerror or exc}") from exc
    try:
        sys.mount(source, f"/proc/self/fd/{fd}", fstype, flags, data)
    except OSError as exc:
        raise SetupError(f"cannot mount {fstype or source} on {target}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


def _remount_ro(sys: Syscalls, path: str, extra: int = 0) -> None:
    flags = sys.mount_flags(path) | MS_REMOUNT | MS_BIND | MS_RDONLY | extra
    sys.mount(None, path, None, flags, None)


def mount_root(sys: Syscalls, cfg: RunConfig) -> None:
    """Private propagation for everything, then the container's root at ``cfg.rootfs_dir``."""
    sys.mount(None, "/", None, MS_REC | MS_PRIVATE)
    if cfg.rootfs_driver == "overlay":
        data, base = overlay_options(cfg.rootfs_lower, cfg.rootfs_upper, cfg.rootfs_work)
        cwd = os.getcwd() if base else None
        try:
            if base:
                os.chdir(base)
            sys.mount("overlay", cfg.rootfs_dir, "overlay", 0, data)
        except OSError as exc:
            raise SetupError(f"cannot mount the container's overlay root: {exc.strerror or exc}") from exc
        finally:
            if cwd:
                os.chdir(cwd)
    else:  # a tree of its own: bind it onto itself so that it is a mount point for pivot_root
        sys.mount(cfg.rootfs_dir, cfg.rootfs_dir, None, MS_BIND | MS_REC)


def mount_dev(sys: Syscalls, root: str, cfg: RunConfig) -> None:
    _mount_at(sys, root, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")
    dev = securejoin.resolve(root, "/dev")
    for name, major, minor in DEVICES:
        path = os.path.join(dev, name)
        sys.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    if cfg.privileged:
        _copy_host_devices(sys, dev)
    for target, name in DEV_SYMLINKS:
        with contextlib.suppress(FileExistsError):
            os.symlink(target, os.path.join(dev, name))
    _mount_at(
        sys, root, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"
    )
    _mount_at(sys, root, "/dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k")
    _mount_at(sys, root, "/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _copy_host_devices(sys: Syscalls, dev: str) -> None:
    """Privileged containers see the host's devices (top-level nodes of the host's /dev)."""
    for entry in os.scandir("/dev"):
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and not os.path.lexists(
            os.path.join(dev, entry.name)
        ):
            with contextlib.suppress(OSError):
                sys.mknod(os.path.join(dev, entry.name), st.st_mode, st.st_rdev)
                os.chown(os.path.join(dev, entry.name), st.st_uid, st.st_gid)


def mount_sys(sys: Syscalls, root: str, cfg: RunConfig, cgroup_hierarchies: list[tuple[str, str]]) -> None:
    """/sys read-only (read-write when privileged), and the container's cgroups under /sys/fs/cgroup.

    ``cgroup_hierarchies`` lists ``(fstype, options)`` as mounted on the host: ``("cgroup2", "")`` for
    a unified hierarchy, ``("cgroup", "memory")`` for a v1 controller; with the cgroup namespace each
    shows the container's own cgroup as its root.
    """
    ro = 0 if cfg.privileged else MS_RDONLY
    _mount_at(sys, root, "/sys", "sysfs", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | ro)
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | ro
    if len(cgroup_hierarchies) == 1 and cgroup_hierarchies[0][0] == "cgroup2":
        _mount_at(sys, root, "/sys/fs/cgroup", "cgroup2", "cgroup2", flags)
        return
    if not cgroup_hierarchies:
        return
    _mount_at(sys, root, "/sys/fs/cgroup", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755")
    base = securejoin.resolve(root, "/sys/fs/cgroup")
    for fstype, options in cgroup_hierarchies:
        name = "unified" if fstype == "cgroup2" else options.replace("name=", "")
        os.makedirs(os.path.join(base, name), exist_ok=True)
        with contextlib.suppress(OSError):  # a hierarchy the container cannot see is left out
            sys.mount("cgroup", os.path.join(base, name), fstype, flags, options or None)
    if ro:
        _remount_ro(sys, base)


def mount_user(sys: Syscalls, root: str, entries: list[MountEntry]) -> None:
    """The container's own mounts, parents before children."""
    for entry in sorted(entries, key=lambda m: m.target.rstrip("/").count("/")):
        if entry.kind == "tmpfs":
            flags = MS_NOSUID | MS_NODEV | (MS_RDONLY if entry.read_only else 0)
            _mount_at(sys, root, entry.target, "tmpfs", "tmpfs", flags, entry.data or "mode=1777")
            continue
        is_dir = os.path.isdir(entry.source)
        if entry.populate and is_dir:
            _populate_volume(root, entry)
        _mount_at(sys, root, entry.target, entry.source, None, MS_BIND | MS_REC, directory=is_dir)
        if entry.read_only:
            _remount_ro(sys, securejoin.resolve(root, entry.target))


def _populate_volume(root: str, entry: MountEntry) -> None:
    """A new volume starts with what the image has at its target (Docker's copy-up)."""
    if any(True for _ in os.scandir(entry.source)):
        return
    src = securejoin.resolve(root, entry.target)
    if os.path.isdir(src) and not os.path.islink(src):
        import subprocess

        subprocess.run(["cp", "-a", "--", f"{src}/.", f"{entry.source}/"], check=True, capture_output=True)


def mount_etc_files(sys: Syscalls, root: str, files: dict[str, str]) -> None:
    for target, source in files.items():
        _mount_at(sys, root, target, source, None, MS_BIND, directory=False)


def pivot(sys: Syscalls, root: str) -> None:
    """Make ``root`` the root: ``pivot_root(".", ".")`` then detach the old root stacked beneath."""
    os.chdir(root)
    try:
        sys.pivot_root(".", ".")
    except OSError as exc:
        raise SetupError(f"pivot_root into the container's root failed: {exc.strerror or exc}") from exc
    sys.umount(".", MNT_DETACH)
    os.chdir("/")


def mask_paths(sys: Syscalls, masked: list[str], readonly: list[str]) -> None:
    """Inside the new root: hide ``masked`` (/dev/null over files, an empty read-only tmpfs over dirs)
    and remount ``readonly`` read-only."""
    for path in masked:
        if os.path.isdir(path) and not os.path.islink(path):
            sys.mount("tmpfs", path, "tmpfs", MS_RDONLY, None)
        elif os.path.exists(path):
            sys.mount("/dev/null", path, None, MS_BIND, None)
    for path in readonly:
        if not os.path.exists(path):
            continue
        sys.mount(path, path, None, MS_BIND | MS_REC, None)
        _remount_ro(sys, path, MS_NOSUID | MS_NODEV | MS_NOEXEC)


def setup(sys: Syscalls, cfg: RunConfig, cgroup_hierarchies: list[tuple[str, str]]) -> None:
    """Everything above, in order. Runs in the container's mount namespace, before any container code."""
    mount_root(sys, cfg)
    root = cfg.rootfs_dir
    _mount_at(sys, root, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount_dev(sys, root, cfg)
    mount_sys(sys, root, cfg, cgroup_hierarchies)
    mount_user(sys, root, cfg.mounts)
    mount_etc_files(sys, root, cfg.etc_files)
    pivot(sys, root)
    if not cfg.privileged:
        mask_paths(sys, cfg.masked_paths, cfg.readonly_paths)
