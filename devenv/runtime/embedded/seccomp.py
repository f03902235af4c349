"""Seccomp filters through libseccomp (ctypes), when the library is installed.

* ``default``: every syscall allowed except those Docker's default profile refuses (kernel modules,
  kexec/reboot, clock setting, keyrings, mount/namespace syscalls, bpf, perf, ...), each let through again
  when the capability it belongs to was added (as Docker's ``includes.caps``). Refused calls fail with
  EPERM; ``clone3`` fails with ENOSYS so that libc falls back to ``clone``, whose namespace flags are checked.
* ``unconfined``: no filter.
* a Docker-format JSON profile (``defaultAction``, ``syscalls[].names/action/args/includes/excludes``).

Parsing is pure (:func:`default_profile`, :func:`parse_profile`); :func:`load` applies a profile. The
BPF program libseccomp makes of a profile is kept (:func:`program`, exported with ``seccomp_export_bpf``)
and loaded with one ``prctl``: compiling ~60 rules through ctypes costs milliseconds in every container
start, and a process that has loaded the program once (the starter, a supervisor) passes it on to what
it forks.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
from collections import namedtuple

from devenv.runtime.embedded.syscalls import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
)

TYPE_CHECKING = False  # (typing is not imported at run time: every start imports this module)
if TYPE_CHECKING:
    from typing import Any, NamedTuple

ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_TRAP = 0x00030000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000


def act_errno(value: int) -> int:
    return 0x00050000 | (value & 0xFFFF)


def act_trace(value: int) -> int:
    return 0x7FF00000 | (value & 0xFFFF)


CMP_OPS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}
_FLTATR_CTL_NNP = 3

# Denied by default, keyed by the capability that lets them through ("" = always denied).
DEFAULT_DENIED: dict[str, tuple[str, ...]] = {
    "": (
        "add_key",
        "keyctl",
        "request_key",
        "userfaultfd",
        "uselib",
        "ustat",
        "sysfs",
        "_sysctl",
        "nfsservctl",
        "vm86",
        "vm86old",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
    ),
    "SYS_ADMIN": (
        "mount",
        "umount",
        "umount2",
        "unshare",
        "setns",
        "pivot_root",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "move_mount",
        "open_tree",
        "mount_setattr",
        "quotactl",
        "quotactl_fd",
        "lookup_dcookie",
        "fanotify_init",
        "swapon",
        "swapoff",
        "bpf",
        "perf_event_open",
    ),
    "SYS_MODULE": ("init_module", "finit_module", "delete_module", "create_module", "query_module", "get_kernel_syms"),
    "SYS_BOOT": ("reboot", "kexec_load", "kexec_file_load"),
    "SYS_TIME": ("settimeofday", "stime", "clock_settime", "clock_adjtime"),
    "SYS_PACCT": ("acct",),
    "SYS_PTRACE": ("process_vm_readv", "process_vm_writev", "kcmp"),
    "SYS_RAWIO": ("iopl", "ioperm"),
    "SYS_NICE": ("get_mempolicy", "mbind", "set_mempolicy", "move_pages"),
    "DAC_READ_SEARCH": ("open_by_handle_at",),
    "SYS_TTY_CONFIG": ("vhangup",),
    "SYSLOG": ("syslog",),
}
NAMESPACE_FLAGS = (CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP)


class SeccompError(Exception):
    pass


if TYPE_CHECKING:

    class ArgRule(NamedTuple):
        arg: int  # which syscall argument
        op: int
        value: int
        value_two: int = 0

    class Rule(NamedTuple):
        name: str
        action: int
        args: tuple[ArgRule, ...] = ()

    class Profile(NamedTuple):
        default_action: int
        rules: list[Rule]

else:
    ArgRule = namedtuple("ArgRule", "arg op value value_two", defaults=(0,))
    Rule = namedtuple("Rule", "name action args", defaults=((),))
    Profile = namedtuple("Profile", "default_action rules")


def default_profile(caps: list[str]) -> Profile:
    deny = act_errno(errno.EPERM)
    rules: list[Rule] = []
    for cap, names in DEFAULT_DENIED.items():
        if cap and cap in caps:
            continue
        rules.extend(Rule(name, deny) for name in names)
    if "SYS_ADMIN" not in caps:
        rules.append(Rule("clone3", act_errno(errno.ENOSYS)))
        for flag in NAMESPACE_FLAGS:  # arg 0 is clone's flags on x86_64 and arm64
            rules.append(Rule("clone", deny, (ArgRule(0, CMP_OPS["SCMP_CMP_MASKED_EQ"], flag, flag),)))
    return Profile(ACT_ALLOW, rules)


def _action(name: str, errno_ret: int | None, where: str) -> int:
    if name == "SCMP_ACT_ALLOW":
        return ACT_ALLOW
    if name == "SCMP_ACT_ERRNO":
        return act_errno(errno.EPERM if errno_ret is None else errno_ret)
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return ACT_KILL_THREAD
    if name == "SCMP_ACT_KILL_PROCESS":
        return ACT_KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return ACT_TRAP
    if name == "SCMP_ACT_LOG":
        return ACT_LOG
    if name == "SCMP_ACT_TRACE":
        return act_trace(errno.EPERM if errno_ret is None else errno_ret)
    raise SeccompError(f"{where}: unsupported seccomp action {name!r}")


def parse_profile(text: str, caps: list[str], source: str = "seccomp profile") -> Profile:
    """A Docker-format seccomp profile, with ``includes``/``excludes`` by capability evaluated."""
    try:
        raw: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeccompError(f"{source}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if not isinstance(raw, dict) or "defaultAction" not in raw:
        raise SeccompError(f"{source}: expected an object with a 'defaultAction'")
    default = _action(raw["defaultAction"], raw.get("defaultErrnoRet"), source)
    rules: list[Rule] = []
    for i, entry in enumerate(raw.get("syscalls") or []):
        where = f"{source}: syscalls[{i}]"
        includes, excludes = entry.get("includes") or {}, entry.get("excludes") or {}
        if includes.get("caps") and not all(c.upper().removeprefix("CAP_") in caps for c in includes["caps"]):
            continue
        if excludes.get("caps") and any(c.upper().removeprefix("CAP_") in caps for c in excludes["caps"]):
            continue
        action = _action(entry.get("action", ""), entry.get("errnoRet"), where)
        args = []
        for arg in entry.get("args") or []:
            if arg.get("op") not in CMP_OPS:
                raise SeccompError(f"{where}: unknown comparison {arg.get('op')!r}")
            args.append(ArgRule(int(arg["index"]), CMP_OPS[arg["op"]], int(arg["value"]), int(arg.get("valueTwo", 0))))
        names = entry.get("names") or ([entry["name"]] if "name" in entry else [])
        rules.extend(Rule(str(n), action, tuple(args)) for n in names)
    return Profile(default, rules)


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


_lib_cache: list[ctypes.CDLL | None] = []


def _lib() -> ctypes.CDLL | None:
    if not _lib_cache:
        lib = None
        try:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError:
            import ctypes.util as ctypes_util  # slow (imports subprocess): only when the usual name fails

            found = ctypes_util.find_library("seccomp")
            with contextlib.suppress(OSError):
                lib = ctypes.CDLL(found, use_errno=True) if found else None
        if lib is not None:
            lib.seccomp_init.restype = ctypes.c_void_p
            lib.seccomp_init.argtypes = [ctypes.c_uint32]
            lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
            lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
            lib.seccomp_rule_add_array.argtypes = [
                ctypes.c_void_p,
                ctypes.c_uint32,
                ctypes.c_int,
                ctypes.c_uint,
                ctypes.POINTER(_ArgCmp),
            ]
            lib.seccomp_load.argtypes = [ctypes.c_void_p]
            lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
            lib.seccomp_release.argtypes = [ctypes.c_void_p]
        _lib_cache.append(lib)
    return _lib_cache[0]


def available() -> bool:
    """Whether libseccomp can be used. Call it before entering a container's mount namespace: the
    library is loaded from the host (the container's root has neither it nor Python's modules)."""
    return _lib() is not None


_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_programs: dict[str, bytes] = {}


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]


def program(profile: Profile) -> bytes | None:
    """The BPF program (``struct sock_filter`` array) libseccomp makes of ``profile``, compiled once per
    process (and kept by what it forks); None when libseccomp cannot export it."""
    key = repr(profile)
    found = _programs.get(key)
    if found is None:
        lib = _lib()
        if lib is None:
            raise SeccompError("libseccomp is not installed")
        r, w = os.pipe()
        try:
            ctx = _build(lib, profile, set_no_new_privs=False)
            try:
                rc = lib.seccomp_export_bpf(ctx, w)  # (a few KiB: fits the pipe)
            finally:
                lib.seccomp_release(ctx)
            os.close(w)
            w = -1
            if rc < 0:
                return None
            chunks = []
            while chunk := os.read(r, 65536):
                chunks.append(chunk)
            found = _programs[key] = b"".join(chunks)
        finally:
            os.close(r)
            if w >= 0:
                os.close(w)
    return found


def load(profile: Profile, *, set_no_new_privs: bool) -> None:
    """Install ``profile`` on the calling thread. Without no_new_privs this needs CAP_SYS_ADMIN."""
    lib = _lib()
    if lib is None:
        raise SeccompError("libseccomp is not installed")
    bpf = program(profile)
    if bpf is not None and len(bpf) % 8 == 0 and 0 < len(bpf) // 8 <= 4096:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
        if set_no_new_privs and libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
            raise SeccompError(f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(ctypes.get_errno())}")
        prog = _SockFprog(len(bpf) // 8, bpf)
        if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0) != 0:
            err = ctypes.get_errno()
            raise SeccompError(f"seccomp_load failed: {errno.errorcode.get(err, err)}")
        return
    ctx = _build(lib, profile, set_no_new_privs)
    try:
        rc = lib.seccomp_load(ctx)
        if rc < 0:
            raise SeccompError(f"seccomp_load failed: {errno.errorcode.get(-rc, -rc)}")
    finally:
        lib.seccomp_release(ctx)


def _build(lib: ctypes.CDLL, profile: Profile, set_no_new_privs: bool) -> int:
    """A libseccomp filter context with ``profile``'s rules (the caller releases it)."""
    ctx: int = lib.seccomp_init(profile.default_action)
    if not ctx:
        raise SeccompError("seccomp_init failed")
    try:
        lib.seccomp_attr_set(ctx, _FLTATR_CTL_NNP, 1 if set_no_new_privs else 0)
        for rule in profile.rules:
            if rule.action == profile.default_action:
                continue
            nr = lib.seccomp_syscall_resolve_name(rule.name.encode())
            if nr == -1:  # __NR_SCMP_ERROR: unknown to this libseccomp
                continue
            arr = (_ArgCmp * max(1, len(rule.args)))()
            for i, a in enumerate(rule.args):
                arr[i] = _ArgCmp(a.arg, a.op, a.value, a.value_two)
            rc = lib.seccomp_rule_add_array(ctx, rule.action, nr, len(rule.args), arr)
            if rc < 0 and nr >= 0 and -rc not in (errno.EEXIST, errno.EACCES):
                raise SeccompError(f"seccomp rule for {rule.name}: {errno.errorcode.get(-rc, -rc)}")
    except BaseException:
        lib.seccomp_release(ctx)
        raise
    return ctx


def resolve(setting: str, caps: list[str], privileged: bool) -> Profile | None:
    """The profile for a container's seccomp setting ("default", "unconfined", or JSON text)."""
    if privileged or setting == "unconfined":
        return None
    if setting in ("", "default"):
        return default_profile(caps)
    return parse_profile(setting, caps)
