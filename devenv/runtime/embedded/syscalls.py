"""The narrow interface through which the embedded runtime touches the kernel (youki's ``Syscall`` trait).

Python's ``os`` module lacks ``mount``, ``unshare``, ``setns``, ``pivot_root`` and ``capset`` (3.11), so
:class:`LinuxSyscalls` calls them through ctypes. Everything that changes kernel state while a container
is set up goes through a :class:`Syscalls` object, so the setup logic can be unit-tested without root
against :class:`RecordingSyscalls`, which records each call instead of making it.

This module imports only the standard library: it is loaded by the supervisor and by ``exec``, whose
start-up time and memory matter.
"""

from __future__ import annotations

import ctypes
import os

TYPE_CHECKING = False  # (not typing.TYPE_CHECKING: importing typing costs start-up time)
if TYPE_CHECKING:
    from typing import Any, Protocol
else:
    Protocol = object  # (typing is not imported at run time: this module is on every start path)

# mount(2) flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# namespaces (clone(2) flags)
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# /proc/PID/ns/<name> → flag, in the order exec joins them (user first, mount last but one, pid last).
NAMESPACE_FLAGS: dict[str, int] = {
    "user": CLONE_NEWUSER,
    "cgroup": CLONE_NEWCGROUP,
    "ipc": CLONE_NEWIPC,
    "uts": CLONE_NEWUTS,
    "net": CLONE_NEWNET,
    "pid": CLONE_NEWPID,
    "mnt": CLONE_NEWNS,
}

# prctl(2)
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# statvfs f_flag → mount flag, to keep the locked flags of a mount when it is remounted read-only
_ST_TO_MS = {
    1: MS_RDONLY,
    2: MS_NOSUID,
    4: MS_NODEV,
    8: MS_NOEXEC,
    1024: MS_NOATIME,
    2048: MS_NODIRATIME,
    4096: MS_RELATIME,
}

_SYSCALL_NUMBERS = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91},
}


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class Syscalls(Protocol):
    """Kernel operations used to set up and enter containers."""

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
    ) -> None:
        """mount(2)."""
        ...

    def umount(self, target: str, flags: int = 0) -> None: ...

    def unshare(self, flags: int) -> None: ...

    def setns(self, fd: int, nstype: int) -> None: ...

    def pivot_root(self, new_root: str, put_old: str) -> None: ...

    def sethostname(self, name: str) -> None: ...

    def mknod(self, path: str, mode: int, device: int) -> None:
        """mknod(2), with exactly ``mode``'s permission bits (not filtered by the umask)."""
        ...

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int: ...

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        """Set the capability sets of the calling thread (64-bit masks)."""
        ...

    def mount_flags(self, path: str) -> int:
        """The MS_* flags a mount at ``path`` currently has (from statvfs)."""
        ...


class LinuxSyscalls:
    """The real thing, through libc. Errors raise ``OSError`` with errno, naming the call and its target."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._numbers = _SYSCALL_NUMBERS.get(os.uname().machine, _SYSCALL_NUMBERS["x86_64"])
        self._libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        self._libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self._libc.unshare.argtypes = [ctypes.c_int]
        self._libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        self._libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self._libc.syscall.restype = ctypes.c_long
        self._libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]

    def _check(self, rc: int, what: str, target: str = "") -> int:
        if rc < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}", target or None)
        return rc

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
    ) -> None:
        rc = self._libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data))
        self._check(rc, f"mount {fstype or ''} {source or ''}".rstrip(), target)

    def umount(self, target: str, flags: int = 0) -> None:
        self._check(self._libc.umount2(_b(target), flags), "umount", target)

    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(flags), f"unshare({flags:#x})")

    def setns(self, fd: int, nstype: int) -> None:
        self._check(self._libc.setns(fd, nstype), f"setns({nstype:#x})")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        rc = self._libc.syscall(self._numbers["pivot_root"], _b(new_root), _b(put_old))
        self._check(rc, "pivot_root", new_root)

    def sethostname(self, name: str) -> None:
        data = name.encode()
        self._check(self._libc.sethostname(data, len(data)), "sethostname", name)

    def mknod(self, path: str, mode: int, device: int) -> None:
        os.mknod(path, mode, device)
        os.chmod(path, mode & 0o7777)  # mknod's mode is filtered by the umask

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        return self._check(self._libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        for i in range(2):
            shift = 32 * i
            data[i].effective = (effective >> shift) & 0xFFFFFFFF
            data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
            data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
        rc = self._libc.syscall(self._numbers["capset"], ctypes.byref(header), ctypes.byref(data))
        self._check(rc, "capset")

    def mount_flags(self, path: str) -> int:
        f_flag = os.statvfs(path).f_flag
        return sum(ms for st, ms in _ST_TO_MS.items() if f_flag & st)


class RecordingSyscalls:
    """A fake for unit tests: records every call as ``(name, args...)`` and changes nothing.

    ``fail`` maps a call name to an errno to raise, to test error paths.
    """

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail = fail or {}

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        if name in self.fail:
            raise OSError(self.fail[name], f"{name}: {os.strerror(self.fail[name])}")

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
    ) -> None:
        self._record("mount", source, target, fstype, flags, data)

    def umount(self, target: str, flags: int = 0) -> None:
        self._record("umount", target, flags)

    def unshare(self, flags: int) -> None:
        self._record("unshare", flags)

    def setns(self, fd: int, nstype: int) -> None:
        self._record("setns", nstype)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, put_old)

    def sethostname(self, name: str) -> None:
        self._record("sethostname", name)

    def mknod(self, path: str, mode: int, device: int) -> None:
        self._record("mknod", path, mode, device)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        self._record("prctl", option, arg2)
        return 0

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self._record("capset", effective, permitted, inheritable)

    def mount_flags(self, path: str) -> int:
        return 0

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def mounts(self) -> list[tuple[Any, ...]]:
        """The ``mount`` calls as ``(source, target, fstype, flags, data)``."""
        return [c[1:] for c in self.calls if c[0] == "mount"]


_SYS_CLONE3 = 435  # (the same number on every architecture: added after the tables were unified)
CLONE_INTO_CGROUP = 0x200000000


class _CloneArgs(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "flags",
            "pidfd",
            "child_tid",
            "parent_tid",
            "exit_signal",
            "stack",
            "stack_size",
            "tls",
            "set_tid",
            "set_tid_size",
            "cgroup",
        )
    ]


def fork_into_cgroup(cgroup_fd: int) -> int:
    """``os.fork()``, with the child created in the cgroup v2 directory ``cgroup_fd`` (clone3 with
    CLONE_INTO_CGROUP): unlike a later write to ``cgroup.procs``, this does not wait for an RCU grace
    period. Returns the child's pid (0 in the child). Raises OSError when the kernel cannot (before 5.7,
    not a v2 directory, a seccomp filter refusing clone3): the caller forks and joins the usual way.

    As ``os.fork`` does, the interpreter's own state is prepared and fixed up around the call (with the
    GIL held throughout: ``PyDLL``); libc's fork handlers do not run, so call it only from a
    single-threaded process.
    """
    import signal

    libc = ctypes.PyDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    args = _CloneArgs(flags=CLONE_INTO_CGROUP, exit_signal=signal.SIGCHLD, cgroup=cgroup_fd)
    api = ctypes.pythonapi
    api.PyOS_BeforeFork()
    pid = libc.syscall(ctypes.c_long(_SYS_CLONE3), ctypes.byref(args), ctypes.c_size_t(ctypes.sizeof(args)))
    if pid == 0:
        api.PyOS_AfterFork_Child()
        return 0
    err = ctypes.get_errno()
    api.PyOS_AfterFork_Parent()
    if pid < 0:
        raise OSError(err, f"clone3(CLONE_INTO_CGROUP): {os.strerror(err)}")
    return int(pid)


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


_real: LinuxSyscalls | None = None


def real() -> LinuxSyscalls:
    """The process-wide :class:`LinuxSyscalls` (libc is loaded once)."""
    global _real
    if _real is None:
        _real = LinuxSyscalls()
    return _real
