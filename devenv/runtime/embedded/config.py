"""The resolved, host-side description of one start of a container: what the supervisor and the
container's init need, with every path already a host path and every choice made.

:func:`devenv.runtime.embedded.runtime.EmbeddedRuntime.start` builds a :class:`RunConfig` from the
container record and writes it next to the record (``run.json``) so a re-executed supervisor can read
it. Standard library only (the supervisor imports it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
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


@dataclass
class MountEntry:
    """A mount inside the container. ``kind``: ``bind`` (``source`` is a host path) or ``tmpfs``."""

    kind: str
    target: str
    source: str = ""
    read_only: bool = False
    data: str = ""  # tmpfs options, e.g. "size=64m,mode=1777"
    populate: bool = False  # new volume: copy what the image has at ``target`` into it first


@dataclass
class Limits:
    memory_bytes: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None


@dataclass
class RunConfig:
    id: str
    name: str
    argv: list[str]
    env: list[str]
    hostname: str
    state_dir: str  # data_root/containers/<id>: record, state, log, upper dir
    rootfs_driver: str  # "overlay" or "copy"
    rootfs_dir: str  # overlay: the (empty) mount point; copy: the tree itself
    rootfs_lower: list[str] = field(default_factory=list)  # host dirs, lowest first (overlay)
    rootfs_upper: str = ""
    rootfs_work: str = ""
    user: str = ""
    workdir: str = ""
    tty: bool = False
    stdin_open: bool = False
    init: bool = True
    network: str = "none"  # "bridge" | "host" | "none"
    attach_network: bool = False  # the starter attaches the namespace (devenv.network) before the command runs
    mounts: list[MountEntry] = field(default_factory=list)
    etc_files: dict[str, str] = field(default_factory=dict)  # container path -> host file
    caps: list[str] = field(default_factory=list)
    privileged: bool = False
    no_new_privs: bool = False
    seccomp: str = "default"  # "default" | "unconfined" | a Docker-format profile (JSON text)
    masked_paths: list[str] = field(default_factory=lambda: list(MASKED_PATHS))
    readonly_paths: list[str] = field(default_factory=lambda: list(READONLY_PATHS))
    limits: Limits = field(default_factory=Limits)
    cgroup_parent: str = "devenv"
    stop_signal: int = 15
    auto_remove: bool = False
    anonymous_volumes: list[str] = field(default_factory=list)  # removed with the container by auto-remove
    log_path: str = ""
    tty_size: tuple[int, int] = (24, 80)  # rows, cols at start (an attached client sends resizes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        raw: dict[str, Any] = json.loads(text)
        raw["mounts"] = [MountEntry(**m) for m in raw.get("mounts", [])]
        raw["limits"] = Limits(**raw.get("limits", {}))
        raw["tty_size"] = tuple(raw.get("tty_size", (24, 80)))
        return cls(**raw)
