"""Per-container cgroups on cgroup v1, v2, and hybrid hosts (v1 controllers plus a v2 ``unified`` mount).

Each container gets ``<hierarchy>/<parent>/<id>`` in every hierarchy the host mounts (``parent`` is
``devenv`` unless configured), limits written where the controller lives (memory, cpu, pids; the
device allowlist on v1), and the directories removed when the container stops or is deleted.

The device allowlist is a v1 ``devices`` controller feature; v2 needs an eBPF program that devenv does
not load yet, so :attr:`CgroupLayout.device_control` tells the caller to compensate (drop
``CAP_MKNOD``). Standard library only; ``root`` can point at a fake tree for unit tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import namedtuple

TYPE_CHECKING = False  # (typing is not imported at run time: every start and exec use this module)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NamedTuple

    from devenv.runtime.embedded.config import Limits

    Writer = Callable[[Any], list[tuple[str, str]]]

    class _Hierarchy(NamedTuple):
        fstype: str  # "cgroup" (v1) or "cgroup2"
        mountpoint: str
        controllers: frozenset[str]  # v1: what is bound there ("name=systemd" for named ones); v2: cgroup.controllers

    class _CgroupLayout(NamedTuple):
        hierarchies: tuple[Hierarchy, ...] = ()

else:
    _Hierarchy = namedtuple("_Hierarchy", "fstype mountpoint controllers")
    _CgroupLayout = namedtuple("_CgroupLayout", "hierarchies", defaults=((),))

V1_CONTROLLERS = frozenset(
    ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls", "net_prio")
)
V1_CONTROLLERS |= {"perf_event", "hugetlb", "rdma", "misc"}

# moby/moby oci/devices_linux.go + the default allow rules of runc (mknod of anything, use of these).
DEVICE_ALLOW = (
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",  # null
    "c 1:5 rwm",  # zero
    "c 1:7 rwm",  # full
    "c 1:8 rwm",  # random
    "c 1:9 rwm",  # urandom
    "c 5:0 rwm",  # tty
    "c 5:1 rwm",  # console
    "c 5:2 rwm",  # ptmx
    "c 136:* rwm",  # pts
    "c 10:200 rwm",  # tun
)


class Hierarchy(_Hierarchy):
    __slots__ = ()

    @property
    def mount_options(self) -> str:
        """Options to mount the same hierarchy inside the container."""
        return "" if self.fstype == "cgroup2" else ",".join(sorted(self.controllers))


class CgroupLayout(_CgroupLayout):
    __slots__ = ()

    @property
    def unified(self) -> Hierarchy | None:
        return next((h for h in self.hierarchies if h.fstype == "cgroup2"), None)

    @property
    def pure_v2(self) -> bool:
        return len(self.hierarchies) == 1 and self.hierarchies[0].fstype == "cgroup2"

    def owner(self, controller: str) -> Hierarchy | None:
        """The hierarchy where ``controller`` is enabled (v1 wins on hybrid hosts: it holds it)."""
        for h in self.hierarchies:
            if h.fstype == "cgroup" and controller in h.controllers:
                return h
        unified = self.unified
        return unified if unified is not None and controller in unified.controllers else None

    @property
    def device_control(self) -> bool:
        return self.owner("devices") is not None


def parse_mountinfo(text: str, read_controllers: bool = True) -> CgroupLayout:
    """The cgroup hierarchies of a ``/proc/self/mountinfo`` text."""
    found: dict[str, Hierarchy] = {}
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, rfields = left.split(), right.split()
        if len(fields) < 5 or len(rfields) < 3:
            continue
        fstype, mountpoint, super_opts = rfields[0], fields[4], rfields[2].split(",")
        if fstype == "cgroup":
            ctrls = frozenset(o for o in super_opts if o in V1_CONTROLLERS or o.startswith("name="))
            if ctrls and ctrls not in {h.controllers for h in found.values() if h.fstype == "cgroup"}:
                found[mountpoint] = Hierarchy("cgroup", mountpoint, ctrls)
        elif fstype == "cgroup2" and not any(h.fstype == "cgroup2" for h in found.values()):
            ctrls = (
                frozenset(_read(os.path.join(mountpoint, "cgroup.controllers")).split())
                if read_controllers
                else frozenset()
            )
            found[mountpoint] = Hierarchy("cgroup2", mountpoint, ctrls)
    return CgroupLayout(tuple(found.values()))


def detect() -> CgroupLayout:
    return parse_mountinfo(_read("/proc/self/mountinfo"))


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class ContainerCgroup:
    def __init__(self, layout: CgroupLayout, parent: str, id: str) -> None:
        self.layout = layout
        self.parent = parent
        self.id = id
        self.warnings: list[str] = []

    def path(self, h: Hierarchy) -> str:
        return os.path.join(h.mountpoint, self.parent, self.id)

    def paths(self) -> list[str]:
        return [self.path(h) for h in self.layout.hierarchies]

    def _ensure_parent(self, h: Hierarchy) -> None:
        parent = os.path.join(h.mountpoint, self.parent)
        if not os.path.isdir(parent):
            with contextlib.suppress(FileExistsError):
                os.makedirs(parent)
        if h.fstype == "cgroup" and "cpuset" in h.controllers:
            _inherit_cpuset(h.mountpoint, parent)
        if h.fstype == "cgroup2" and h.controllers:
            # Delegate the controllers down to our parent, then to the containers below it.
            wanted = [c for c in ("cpu", "memory", "pids", "io") if c in h.controllers]
            for d in (h.mountpoint, parent):
                enabled = set(_read(os.path.join(d, "cgroup.subtree_control")).split())
                for c in wanted:
                    if c not in enabled:
                        with contextlib.suppress(OSError):
                            _write(os.path.join(d, "cgroup.subtree_control"), f"+{c}")

    def create(self, limits: Limits, *, privileged: bool = False) -> None:
        """Make the directories and write the limits. Unsupported limits become :attr:`warnings`."""
        self.create_dirs()
        self.apply_limits(limits, privileged=privileged)

    def create_dirs(self) -> None:
        """Make the directories (a process may join them; the limits come with :meth:`apply_limits`)."""
        for h in self.layout.hierarchies:
            self._ensure_parent(h)
            path = self.path(h)
            with contextlib.suppress(FileExistsError):
                os.mkdir(path)
            if h.fstype == "cgroup" and "cpuset" in h.controllers:
                _inherit_cpuset(os.path.join(h.mountpoint, self.parent), path)

    def apply_limits(self, limits: Limits, *, privileged: bool = False) -> None:
        """Write the limits and the device allowlist. Unsupported limits become :attr:`warnings`."""
        self._limit(
            "memory",
            limits.memory_bytes,
            lambda v: [("memory.limit_in_bytes", str(v))],
            lambda v: [("memory.max", str(v))],
        )
        if limits.cpus is not None:
            quota = max(1000, int(limits.cpus * 100_000))
            self._limit(
                "cpu",
                quota,
                lambda q: [("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", str(q))],
                lambda q: [("cpu.max", f"{q} 100000")],
            )
        self._limit("pids", limits.pids_limit, lambda v: [("pids.max", str(v))], lambda v: [("pids.max", str(v))])
        devices = self.layout.owner("devices")
        if devices is not None and devices.fstype == "cgroup":
            path = self.path(devices)
            if privileged:
                _write(os.path.join(path, "devices.allow"), "a")
            else:
                _write(os.path.join(path, "devices.deny"), "a")
                for rule in DEVICE_ALLOW:
                    _write(os.path.join(path, "devices.allow"), rule)

    def _limit(self, controller: str, value: Any, v1: Writer, v2: Writer) -> None:
        if value is None:
            return
        h = self.layout.owner(controller)
        if h is None:
            self.warnings.append(
                f"the {controller} cgroup controller is not available: the {controller} limit is ignored"
            )
            return
        writer = v1 if h.fstype == "cgroup" else v2
        for name, text in writer(value):
            _write(os.path.join(self.path(h), name), text)

    def join(self, pid: int = 0) -> None:
        """Move ``pid`` (0 = the caller) into the container's cgroup in every hierarchy."""
        for path in self.paths():
            _write(os.path.join(path, "cgroup.procs"), str(pid))

    # A write to ``cgroup.procs`` (a whole thread group) takes the kernel's cgroup_threadgroup_rwsem for
    # writing, and the first writer after a quiet moment waits for an RCU grace period (~5-25 ms). Moving
    # only the calling thread (v1 ``tasks``, "0") skips that lock, and so does creating a process in its
    # v2 cgroup (clone3 with CLONE_INTO_CGROUP, syscalls.fork_into_cgroup). So a container's supervisor
    # forks its init into the v2 cgroup (:meth:`open_v2`), and the init, single-threaded, joins its v1
    # hierarchies through ``tasks`` (:meth:`join_v1_thread`); :meth:`join_v2` when the fork could not.

    def open_v2(self) -> int:
        """A descriptor of the container's cgroup directory in the v2 hierarchy (-1 when there is none)."""
        unified = self.layout.unified
        if unified is None:
            return -1
        try:
            return os.open(self.path(unified), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return -1

    def join_v1_thread(self) -> None:
        """Move the calling thread into the container's cgroup in every v1 hierarchy (a single-threaded
        caller: its whole process)."""
        for h in self.layout.hierarchies:
            if h.fstype == "cgroup":
                _write(os.path.join(self.path(h), "tasks"), "0")

    def join_v2(self, pid: int) -> None:
        """Move process ``pid`` into the container's cgroup in the v2 hierarchy, if there is one."""
        unified = self.layout.unified
        if unified is not None:
            _write(os.path.join(self.path(unified), "cgroup.procs"), str(pid))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.paths():
            found.update(int(p) for p in _read(os.path.join(path, "cgroup.procs")).split())
        return found

    def exists(self) -> bool:
        return any(os.path.isdir(p) for p in self.paths())

    def remove(self, timeout: float = 5.0) -> None:
        """Kill what is left inside, then remove the directories. Raises OSError if a directory stays busy."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.pids()
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        error: OSError | None = None
        for path in self.paths():
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                error = exc
        if error is not None:
            raise error

    def mount_list(self) -> list[tuple[str, str]]:
        """``(fstype, options)`` of each hierarchy, for mounting them inside the container."""
        return [(h.fstype, h.mount_options) for h in self.layout.hierarchies]


def _inherit_cpuset(parent: str, child: str) -> None:
    """A new v1 cpuset cgroup has no CPUs or memory nodes until they are copied from its parent."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not _read(os.path.join(child, name)).strip():
            value = _read(os.path.join(parent, name)).strip()
            if value:
                with contextlib.suppress(OSError):
                    _write(os.path.join(child, name), value)
