"""cgroups on this host (v1 controllers plus the v2 unified mount): limits are written and enforced, the
container sees its own cgroup, and the cgroup goes away with the container."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.runtime.base import Resources
from devenv.runtime.embedded import cgroups
from devenv.runtime.embedded.runtime import EmbeddedRuntime
from tests.integration.runtime_helpers import rootfs_spec, run_in

pytest_plugins = ("tests.integration.runtime_fixtures",)


def layout() -> cgroups.CgroupLayout:
    return cgroups.detect()


def test_memory_cpu_and_pids_limits_are_applied(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    res = Resources(memory_bytes=64 * 1024 * 1024, cpus=0.5, pids_limit=32)
    c = rt.create(rootfs_spec(bb_rootfs, resources=res))
    rt.start(c.id)
    cg = cgroups.ContainerCgroup(layout(), "devenv", c.id)
    mem, cpu, pids = (layout().owner(x) for x in ("memory", "cpu", "pids"))
    assert mem is not None and cpu is not None and pids is not None
    if mem.fstype == "cgroup":
        assert Path(cg.path(mem), "memory.limit_in_bytes").read_text().strip() == str(64 * 1024 * 1024)
        assert Path(cg.path(cpu), "cpu.cfs_quota_us").read_text().strip() == "50000"
    else:
        assert Path(cg.path(mem), "memory.max").read_text().strip() == str(64 * 1024 * 1024)
        assert Path(cg.path(cpu), "cpu.max").read_text().split() == ["50000", "100000"]
    assert Path(cg.path(pids), "pids.max").read_text().strip() == "32"
    # The container sees the limits through its own (namespaced, read-only) /sys/fs/cgroup.
    if mem.fstype == "cgroup":
        inside = run_in(rt, c.id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")[1].strip()
        assert inside == str(64 * 1024 * 1024)
    assert run_in(rt, c.id, "cat", "/proc/self/cgroup")[1].count(":/\n") >= len(layout().hierarchies)


def test_pids_limit_stops_a_fork_bomb(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs, resources=Resources(pids_limit=20)))
    rt.start(c.id)
    _code, _out, err = run_in(rt, c.id, "sh", "-c", "for i in $(seq 40); do sleep 5 & done")
    assert "fork" in err  # the shell was refused new processes
    count = len(cgroups.ContainerCgroup(layout(), "devenv", c.id).pids())
    assert 10 < count <= 20


def test_memory_limit_is_enforced(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    mem = layout().owner("memory")
    if mem is None:
        pytest.skip("no memory controller on this host")
    c = rt.create(rootfs_spec(bb_rootfs, resources=Resources(memory_bytes=16 * 1024 * 1024)))
    rt.start(c.id)
    # 64 MiB into a tmpfs-backed variable of the shell: more than the limit allows.
    code, _, _ = run_in(rt, c.id, "sh", "-c", "head -c 67108864 /dev/zero | tr '\\0' x > /dev/shm/big")
    assert code != 0  # killed by the OOM killer or refused


def test_cgroup_is_removed_when_the_container_exits_and_on_rm(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs, "sleep", "0.2"))
    rt.start(c.id)
    cg = cgroups.ContainerCgroup(layout(), "devenv", c.id)
    rt.wait(c.id)
    assert not cg.exists()
    rt.start(c.id)
    assert cg.exists() or rt.wait(c.id) == 0
    rt.remove(c.id, force=True)
    assert not cg.exists()


def test_unified_hierarchy_tracks_the_container_on_hybrid_hosts(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    unified = layout().unified
    if unified is None or layout().pure_v2:
        pytest.skip("not a hybrid host")
    c = rt.create(rootfs_spec(bb_rootfs))
    c = rt.start(c.id)
    procs = Path(unified.mountpoint, "devenv", c.id, "cgroup.procs").read_text().split()
    assert str(c.pid) in procs


def test_init_and_command_are_in_the_containers_cgroup_in_every_hierarchy(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    # (the init is forked into its v2 cgroup and joins the v1 ones through `tasks`: no RCU wait)
    c = rt.create(rootfs_spec(bb_rootfs, "sleep", "30"))
    c = rt.start(c.id)
    cg = cgroups.ContainerCgroup(layout(), "devenv", c.id)
    for path in cg.paths():
        procs = set(Path(path, "cgroup.procs").read_text().split())
        assert str(c.pid) in procs and len(procs) == 2, path  # init and sleep
