"""The resolved, host-side description of one start of a container: what the supervisor and the
container's init need, with every path already a host path and every choice made.

:func:`devenv.runtime.embedded.lifecycle.start` builds a :class:`RunConfig` from the container record
and writes it next to the record (``run.json``) so a re-executed supervisor (and ``exec``) can read it.
Standard library only, and plain classes rather than dataclasses: this module is on the start path of
every container, where each generated class costs start-up time.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # (typing is not imported at run time: start-up time)
if TYPE_CHECKING:
    from typing import Any

# What Docker masks and makes read-only in /proc and /sys (moby/moby oci/defaults.go).
MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


class _Record:
    """Equality, repr and a plain dict of the attributes named in ``_fields`` (what a dataclass gives)."""

    _fields: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(getattr(self, f) == getattr(other, f) for f in self._fields)

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self._fields}


class MountEntry(_Record):
    """A mount inside the container. ``kind``: ``bind`` (``source`` is a host path) or ``tmpfs``."""

    _fields = ("kind", "target", "source", "read_only", "data", "populate")

    def __init__(
        self,
        kind: str,
        target: str,
        source: str = "",
        read_only: bool = False,
        data: str = "",  # tmpfs options, e.g. "size=64m,mode=1777"
        populate: bool = False,  # new volume: copy what the image has at ``target`` into it first
    ) -> None:
        self.kind = kind
        self.target = target
        self.source = source
        self.read_only = read_only
        self.data = data
        self.populate = populate


class Limits(_Record):
    _fields = ("memory_bytes", "cpus", "pids_limit")

    def __init__(
        self, memory_bytes: int | None = None, cpus: float | None = None, pids_limit: int | None = None
    ) -> None:
        self.memory_bytes = memory_bytes
        self.cpus = cpus
        self.pids_limit = pids_limit


class RunConfig(_Record):
    _fields = (
        "id", "name", "argv", "env", "hostname", "state_dir", "rootfs_driver", "rootfs_dir", "rootfs_lower",
        "rootfs_upper", "rootfs_work", "user", "workdir", "tty", "stdin_open", "init", "network", "attach_network",
        "mounts", "etc_files", "caps", "privileged", "no_new_privs", "seccomp", "masked_paths", "readonly_paths",
        "limits", "cgroup_parent", "stop_signal", "auto_remove", "anonymous_volumes", "log_path", "tty_size",
        "release_lease",
    )  # fmt: skip

    def __init__(
        self,
        id: str,
        name: str,
        argv: list[str],
        env: list[str],
        hostname: str,
        state_dir: str,  # data_root/containers/<id>: record, state, log, upper dir
        rootfs_driver: str,  # "overlay" or "copy"
        rootfs_dir: str,  # overlay: the (empty) mount point; copy: the tree itself
        rootfs_lower: list[str] | None = None,  # host dirs, lowest first (overlay)
        rootfs_upper: str = "",
        rootfs_work: str = "",
        user: str = "",
        workdir: str = "",
        tty: bool = False,
        stdin_open: bool = False,
        init: bool = True,
        network: str = "none",  # "bridge" | "host" | "none"
        attach_network: bool = False,  # the supervisor attaches the namespace (devenv.network) before the command runs
        mounts: list[MountEntry] | None = None,
        etc_files: dict[str, str] | None = None,  # container path -> host file
        caps: list[str] | None = None,
        privileged: bool = False,
        no_new_privs: bool = False,
        seccomp: str = "default",  # "default" | "unconfined" | a Docker-format profile (JSON text)
        masked_paths: list[str] | None = None,
        readonly_paths: list[str] | None = None,
        limits: Limits | None = None,
        cgroup_parent: str = "devenv",
        stop_signal: int = 15,
        auto_remove: bool = False,
        anonymous_volumes: list[str] | None = None,  # removed with the container by auto-remove
        log_path: str = "",
        tty_size: tuple[int, int] = (24, 80),  # rows, cols at start (an attached client sends resizes)
        release_lease: str = "",  # the container whose image lease an auto-removed container releases
    ) -> None:
        self.id = id
        self.name = name
        self.argv = argv
        self.env = env
        self.hostname = hostname
        self.state_dir = state_dir
        self.rootfs_driver = rootfs_driver
        self.rootfs_dir = rootfs_dir
        self.rootfs_lower = rootfs_lower if rootfs_lower is not None else []
        self.rootfs_upper = rootfs_upper
        self.rootfs_work = rootfs_work
        self.user = user
        self.workdir = workdir
        self.tty = tty
        self.stdin_open = stdin_open
        self.init = init
        self.network = network
        self.attach_network = attach_network
        self.mounts = mounts if mounts is not None else []
        self.etc_files = etc_files if etc_files is not None else {}
        self.caps = caps if caps is not None else []
        self.privileged = privileged
        self.no_new_privs = no_new_privs
        self.seccomp = seccomp
        self.masked_paths = masked_paths if masked_paths is not None else list(MASKED_PATHS)
        self.readonly_paths = readonly_paths if readonly_paths is not None else list(READONLY_PATHS)
        self.limits = limits if limits is not None else Limits()
        self.cgroup_parent = cgroup_parent
        self.stop_signal = stop_signal
        self.auto_remove = auto_remove
        self.anonymous_volumes = anonymous_volumes if anonymous_volumes is not None else []
        self.log_path = log_path
        self.tty_size = tty_size
        self.release_lease = release_lease

    def to_json(self) -> str:
        raw = self.to_dict()
        raw["mounts"] = [m.to_dict() for m in self.mounts]
        raw["limits"] = self.limits.to_dict()
        raw["tty_size"] = list(self.tty_size)
        return json.dumps(raw, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        raw: dict[str, Any] = json.loads(text)
        raw["mounts"] = [MountEntry(**m) for m in raw.get("mounts", [])]
        raw["limits"] = Limits(**raw.get("limits", {}))
        raw["tty_size"] = tuple(raw.get("tty_size", (24, 80)))
        known = set(cls._fields)
        return cls(**{k: v for k, v in raw.items() if k in known})
