"""The dynamic half of a container: ``state.json``, written only by its supervisor while it lives.

The record (``container.json``: spec, name, created) is written by the CLI under the container's lock;
the state (running/stopped, pids, exit code) by the supervisor alone, so the two never race. Readers
trust nothing blindly: a state that says *running* is checked against the kernel (is the pid alive,
with the start time and boot recorded?), so a supervisor killed with ``kill -9`` or a host reboot
reads as *stopped*.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import namedtuple

TYPE_CHECKING = False  # (typing is not imported at run time: this module is on the exec hot path)
if TYPE_CHECKING:
    from typing import Any, NamedTuple

STATE_FILE = "state.json"


if TYPE_CHECKING:

    class _ProcessRef(NamedTuple):
        pid: int
        start: int
        boot: str

else:
    _ProcessRef = namedtuple("_ProcessRef", "pid start boot")


class ProcessRef(_ProcessRef):
    """A pid that cannot be confused with a later process reusing it: start time (clock ticks) and boot."""

    __slots__ = ()

    def alive(self) -> bool:
        return self.boot == boot_id() and start_time(self.pid) == self.start

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        return cls(pid, start_time(pid) or 0, boot_id())


class State:
    """A plain class, not a dataclass: this module is on the ``exec`` hot path, where every generated
    class costs start-up time."""

    def __init__(
        self,
        status: str = "created",  # created | running | stopped
        init: ProcessRef | None = None,  # the container's pid 1, as seen from the host
        supervisor: ProcessRef | None = None,
        started_at: float | None = None,
        finished_at: float | None = None,
        exit_code: int | None = None,
        error: str | None = None,  # why the last start failed
        ip_address: str | None = None,
        ports: list[dict[str, Any]] | None = None,  # actual host ports (PortMapping fields)
    ) -> None:
        self.status = status
        self.init = init
        self.supervisor = supervisor
        self.started_at = started_at
        self.finished_at = finished_at
        self.exit_code = exit_code
        self.error = error
        self.ip_address = ip_address
        self.ports = ports or []

    def to_dict(self) -> dict[str, Any]:
        raw = dict(vars(self))
        for key in ("init", "supervisor"):
            ref = raw[key]
            raw[key] = ref._asdict() if ref is not None else None
        return raw

    def running(self) -> bool:
        return self.status == "running" and self.init is not None and self.init.alive()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> State:
        data = dict(raw)
        for key in ("init", "supervisor"):
            data[key] = ProcessRef(**data[key]) if data.get(key) else None
        return cls(**data)


def read(state_dir: str) -> State:
    try:
        with open(os.path.join(state_dir, STATE_FILE)) as f:
            return State.from_dict(json.load(f))
    except FileNotFoundError:
        return State()
    except (ValueError, TypeError):  # damaged (e.g. power loss): the container reads as stopped
        return State(status="stopped", error="the state file was unreadable")


def write(state_dir: str, state: State) -> None:
    """Atomic replace, without fsync: a lost state after power loss reads as stopped, which is recoverable."""
    path = os.path.join(state_dir, STATE_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(state.to_json())
    os.replace(tmp, path)


def refreshed(state_dir: str) -> State:
    """The state, corrected by what the kernel says (no write)."""
    st = read(state_dir)
    if st.status == "running" and not (st.init is not None and st.init.alive()):
        st.status = "stopped"
        if st.finished_at is None:
            st.finished_at = time.time()
    return st


def supervisor_alive(st: State) -> bool:
    return st.supervisor is not None and st.supervisor.alive()


_boot: list[str] = []


def boot_id() -> str:
    if not _boot:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _boot.append(f.read().strip())
        except OSError:
            _boot.append("")
    return _boot[0]


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks); None if the pid does not exist or is a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2 :].split()
    if not rest or rest[0] in (b"Z", b"X"):
        return None
    with contextlib.suppress(IndexError, ValueError):
        return int(rest[19])
    return None
