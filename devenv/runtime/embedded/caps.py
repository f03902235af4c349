"""Linux capabilities: names, Docker's default set, and how a container's set is computed and applied.

A container gets Docker's default bounding set unless ``privileged`` (every capability), adjusted by
``cap_add`` / ``cap_drop`` (names with or without ``CAP_``, any case, or ``ALL``). Its root process
holds exactly that set (effective = permitted, inheritable empty, as Docker ≥ 20.10); a non-root
process holds none, but the bounding set still limits what setuid/file capabilities could grant.
"""

from __future__ import annotations

import contextlib

from devenv.runtime.embedded.syscalls import PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_CAPBSET_DROP

TYPE_CHECKING = False  # (typing is not imported at run time: start-up time)
if TYPE_CHECKING:
    from collections.abc import Iterable

    from devenv.runtime.embedded.syscalls import Syscalls

CAPABILITIES: dict[str, int] = {
    "CHOWN": 0,
    "DAC_OVERRIDE": 1,
    "DAC_READ_SEARCH": 2,
    "FOWNER": 3,
    "FSETID": 4,
    "KILL": 5,
    "SETGID": 6,
    "SETUID": 7,
    "SETPCAP": 8,
    "LINUX_IMMUTABLE": 9,
    "NET_BIND_SERVICE": 10,
    "NET_BROADCAST": 11,
    "NET_ADMIN": 12,
    "NET_RAW": 13,
    "IPC_LOCK": 14,
    "IPC_OWNER": 15,
    "SYS_MODULE": 16,
    "SYS_RAWIO": 17,
    "SYS_CHROOT": 18,
    "SYS_PTRACE": 19,
    "SYS_PACCT": 20,
    "SYS_ADMIN": 21,
    "SYS_BOOT": 22,
    "SYS_NICE": 23,
    "SYS_RESOURCE": 24,
    "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26,
    "MKNOD": 27,
    "LEASE": 28,
    "AUDIT_WRITE": 29,
    "AUDIT_CONTROL": 30,
    "SETFCAP": 31,
    "MAC_OVERRIDE": 32,
    "MAC_ADMIN": 33,
    "SYSLOG": 34,
    "WAKE_ALARM": 35,
    "BLOCK_SUSPEND": 36,
    "AUDIT_READ": 37,
    "PERFMON": 38,
    "BPF": 39,
    "CHECKPOINT_RESTORE": 40,
}

# moby/moby oci/caps/defaults.go
DOCKER_DEFAULT: tuple[str, ...] = (
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
)


class UnknownCapability(ValueError):
    pass


def normalise(name: str) -> str:
    """``cap_sys_admin`` / ``SYS_ADMIN`` / ``CAP_SYS_ADMIN`` → ``SYS_ADMIN``; ``all`` → ``ALL``."""
    upper = name.strip().upper()
    if upper.startswith("CAP_"):
        upper = upper[4:]
    if upper != "ALL" and upper not in CAPABILITIES:
        raise UnknownCapability(f"unknown capability {name!r}")
    return upper


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return max(CAPABILITIES.values())


def container_set(privileged: bool, cap_add: Iterable[str] = (), cap_drop: Iterable[str] = ()) -> list[str]:
    """The capability names a container's bounding set keeps (sorted by number)."""
    every = set(CAPABILITIES)
    caps = set(every) if privileged else set(DOCKER_DEFAULT)
    added = {normalise(c) for c in cap_add}
    dropped = {normalise(c) for c in cap_drop}
    caps -= every if "ALL" in dropped else dropped  # drops first, then adds (Docker's order)
    caps |= every if "ALL" in added else added
    return sorted(caps, key=CAPABILITIES.__getitem__)


def bounding_of_self() -> int:
    """This process's bounding set (a container can only get capabilities its runtime holds)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return (1 << (last_cap() + 1)) - 1


def held(names: Iterable[str], bounding: int) -> list[str]:
    """``names`` without the capabilities missing from ``bounding``."""
    return [n for n in names if bounding & (1 << CAPABILITIES[n])]


def mask(names: Iterable[str]) -> int:
    value = 0
    for name in names:
        value |= 1 << CAPABILITIES[name]
    return value


def drop_bounding(sys: Syscalls, keep: Iterable[str], top: int | None = None) -> None:
    """Drop every capability outside ``keep`` from the bounding set; clear the ambient set."""
    keep_mask = mask(keep)
    for cap in range((last_cap() if top is None else top) + 1):
        if not keep_mask & (1 << cap):
            sys.prctl(PR_CAPBSET_DROP, cap)
    with contextlib.suppress(OSError):  # kernels before 4.3 have no ambient set
        sys.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def set_process_caps(sys: Syscalls, keep: Iterable[str], uid: int) -> None:
    """After the uid change: root keeps exactly ``keep``; any other uid keeps nothing."""
    value = mask(keep) if uid == 0 else 0
    sys.capset(value, value, 0)
