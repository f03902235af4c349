"""The container's pid 1: it reaps orphans (no zombies), forwards signals, and reports the exit code."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from devenv.runtime.base import ContainerStatus
from devenv.runtime.embedded import cgroups
from devenv.runtime.embedded.runtime import EmbeddedRuntime
from tests.integration.runtime_helpers import rootfs_spec, run_in, wait_for

pytest_plugins = ("tests.integration.runtime_fixtures",)

# Each subshell starts a background sleep and exits at once: the sleeps are orphaned, reparented to
# pid 1, and become zombies when they exit unless pid 1 reaps them.
ORPHANS = "for i in 1 2 3 4 5; do (sleep 0.2 &); done; exec sleep 3600"


def zombies(rt: EmbeddedRuntime, container_id: str) -> list[int]:
    """Zombie processes below the container's pid 1 (found through parent pids: a zombie has left its
    cgroup and namespaces already)."""
    init = rt.get(container_id).pid
    assert init
    parents: dict[int, int] = {}
    states: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        states[int(entry)] = fields[0]
    tree, todo = {init}, [init]
    while todo:
        pid = todo.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                todo.append(child)
    return sorted(pid for pid in tree if states.get(pid) == "Z")


def test_orphans_are_reaped_by_init(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs, "sh", "-c", ORPHANS))
    rt.start(c.id)
    time.sleep(1.0)
    assert zombies(rt, c.id) == []
    code, out, _ = run_in(rt, c.id, "ps", "-o", "stat")
    assert code == 0 and "Z" not in out.split()


def test_without_init_a_non_reaping_pid_1_leaves_zombies(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    """The check above can fail: with ``init: false`` the command (sleep) is pid 1 and reaps nothing."""
    c = rt.create(rootfs_spec(bb_rootfs, "sh", "-c", ORPHANS, init=False))
    rt.start(c.id)
    wait_for(lambda: len(zombies(rt, c.id)) == 5, what="five zombies under a non-reaping pid 1")


def test_signals_sent_to_pid_1_reach_the_command(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    script = "trap 'echo usr1' USR1; trap 'echo term; exit 3' TERM; echo ready; while true; do sleep 0.05; done"
    c = rt.create(rootfs_spec(bb_rootfs, "sh", "-c", script))
    c = rt.start(c.id)
    assert c.pid

    def logged(text: str) -> bool:
        return text in b"".join(rt.logs(c.id)).decode()

    wait_for(lambda: logged("ready"))
    os.kill(c.pid, signal.SIGUSR1)
    wait_for(lambda: logged("usr1"), what="USR1 forwarded")
    c = rt.stop(c.id, timeout=10)
    assert c.exit_code == 3
    assert "term" in b"".join(rt.logs(c.id)).decode()


def test_init_false_runs_the_command_as_pid_1(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs, "sh", "-c", "echo $$; exec sleep 3600", init=False))
    rt.start(c.id)
    wait_for(lambda: b"".join(rt.logs(c.id)) == b"1\n", what="pid 1")
    assert run_in(rt, c.id, "cat", "/proc/1/comm")[1] == "sleep\n"
    started = time.monotonic()
    c = rt.stop(c.id, timeout=1)  # sleep as pid 1 ignores SIGTERM: killed after the timeout
    assert c.exit_code == 128 + signal.SIGKILL
    assert time.monotonic() - started >= 0.9


def test_exit_of_the_command_ends_the_container_and_its_other_processes(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs, "sh", "-c", "sleep 3600 & sleep 3600 & sleep 0.3; exit 4"))
    rt.start(c.id)
    assert rt.wait(c.id, timeout=20) == 4
    assert rt.get(c.id).status is ContainerStatus.STOPPED
    assert not cgroups.ContainerCgroup(cgroups.detect(), "devenv", c.id).exists()
