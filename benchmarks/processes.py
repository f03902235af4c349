"""Processes seen through /proc: trees, CPU time and memory (RSS, PSS) of a set of processes."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3 is index 0)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def parent_of(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[1]) if fields else 0


def all_pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def tree(roots: Iterable[int]) -> set[int]:
    """The processes and all their descendants (those alive now)."""
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        children.setdefault(parent_of(pid), []).append(pid)
    found: set[int] = set()
    todo = [p for p in roots if p > 0]
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo += children.get(pid, [])
    return found


def session(sid: int) -> set[int]:
    """The processes of a session (e.g. a daemon started with ``start_new_session`` and what it forked)."""
    found = set()
    for pid in all_pids():
        fields = _stat(pid)
        if fields and int(fields[3]) == sid and pid != os.getpid():
            found.add(pid)
    return found


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def matching(text: str) -> list[int]:
    """Processes whose command line contains ``text`` (never this process)."""
    return [pid for pid in all_pids() if pid != os.getpid() and text in " ".join(cmdline(pid))]


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of the processes, including their reaped children."""
    total = 0.0
    for pid in pids:
        fields = _stat(pid)
        if fields:
            total += sum(int(x) for x in fields[11:15]) / TICK
    return total


def memory_kib(pids: Iterable[int]) -> tuple[int, int]:
    """(RSS, PSS) summed over the processes, in KiB. PSS shares pages between the processes that map
    them, so the sum is what the set costs; RSS counts shared libraries once per process."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:  # gone, or a kernel thread
            continue
    return rss, pss


def describe(pids: Iterable[int]) -> str:
    """Short names of the processes, e.g. ``containerd-shim, sh, sleep``."""
    names = []
    for pid in sorted(pids):
        try:
            names.append(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            continue
    return ", ".join(names)
