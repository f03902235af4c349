"""cgroup layouts (v1, v2, hybrid) from mountinfo, and per-container cgroups on a fake cgroupfs tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devenv.runtime.embedded import cgroups
from devenv.runtime.embedded.config import Limits

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
99 31 0:29 / /mnt/again rw,relatime - cgroup cgroup rw,cpu,cpuacct
"""
PURE_V2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"


def test_hybrid_layout() -> None:
    layout = cgroups.parse_mountinfo(HYBRID, read_controllers=False)
    assert [h.mountpoint for h in layout.hierarchies] == [
        "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpuset", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/devices",
        "/sys/fs/cgroup/pids", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified",
    ]  # fmt: skip
    assert layout.owner("memory").fstype == "cgroup"  # type: ignore[union-attr]
    assert layout.owner("cpu").mount_options == "cpu,cpuacct"  # type: ignore[union-attr]
    assert layout.unified is not None and not layout.pure_v2
    assert layout.device_control
    assert layout.owner("hugetlb") is None


def test_pure_v2_layout_reads_the_controllers(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    layout = cgroups.parse_mountinfo(PURE_V2.replace("/sys/fs/cgroup", str(tmp_path)))
    assert layout.pure_v2
    assert layout.owner("memory") is layout.unified
    assert not layout.device_control  # v2 needs eBPF for devices: the runtime drops CAP_MKNOD instead


def fake_v1(root: Path) -> cgroups.CgroupLayout:
    hs = []
    for name in ("cpu,cpuacct", "cpuset", "memory", "devices", "pids"):
        (root / name).mkdir()
        hs.append(cgroups.Hierarchy("cgroup", str(root / name), frozenset(name.split(","))))
    (root / "cpuset/cpuset.cpus").write_text("0-1\n")
    (root / "cpuset/cpuset.mems").write_text("0\n")
    return cgroups.CgroupLayout(tuple(hs))


def test_v1_limits_devices_and_cpuset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[tuple[str, str]] = []
    real_write = cgroups._write

    def record(path: str, value: str) -> None:
        writes.append((str(Path(path).relative_to(tmp_path)), value))
        real_write(path, value)

    monkeypatch.setattr(cgroups, "_write", record)
    cg = cgroups.ContainerCgroup(fake_v1(tmp_path), "devenv", "c1")
    cg.create(Limits(memory_bytes=1 << 30, cpus=1.5, pids_limit=100))
    assert ("memory/devenv/c1/memory.limit_in_bytes", str(1 << 30)) in writes
    assert ("cpu,cpuacct/devenv/c1/cpu.cfs_quota_us", "150000") in writes
    assert ("pids/devenv/c1/pids.max", "100") in writes
    assert ("devices/devenv/c1/devices.deny", "a") in writes
    assert ("devices/devenv/c1/devices.allow", "c 1:3 rwm") in writes
    assert (tmp_path / "cpuset/devenv/c1/cpuset.cpus").read_text() == "0-1"  # copied down from the root
    assert cg.warnings == []


def test_privileged_allows_every_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[tuple[str, str]] = []
    monkeypatch.setattr(cgroups, "_write", lambda p, v: writes.append((Path(p).name, v)))
    cgroups.ContainerCgroup(fake_v1(tmp_path), "devenv", "c1").create(Limits(), privileged=True)
    assert [w for w in writes if w[0].startswith("devices.")] == [("devices.allow", "a")]


def test_v2_delegates_controllers_and_writes_v2_files(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    layout = cgroups.CgroupLayout((cgroups.Hierarchy("cgroup2", str(tmp_path), frozenset({"cpu", "memory", "pids"})),))
    cg = cgroups.ContainerCgroup(layout, "devenv", "c2")
    cg.create(Limits(memory_bytes=512, cpus=0.25, pids_limit=7))
    d = tmp_path / "devenv/c2"
    assert (d / "memory.max").read_text() == "512"
    assert (d / "cpu.max").read_text() == "25000 100000"
    assert (d / "pids.max").read_text() == "7"
    assert (tmp_path / "devenv/cgroup.subtree_control").read_text() == "+pids"  # (a plain file keeps the last write)


def test_missing_controller_becomes_a_warning(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    layout = cgroups.CgroupLayout((cgroups.Hierarchy("cgroup", str(tmp_path / "memory"), frozenset({"memory"})),))
    cg = cgroups.ContainerCgroup(layout, "devenv", "c3")
    cg.create(Limits(pids_limit=5))
    assert cg.warnings == ["the pids cgroup controller is not available: the pids limit is ignored"]


def test_mount_list_for_inside_the_container() -> None:
    layout = cgroups.parse_mountinfo(HYBRID, read_controllers=False)
    cg = cgroups.ContainerCgroup(layout, "devenv", "x")
    assert ("cgroup", "cpu,cpuacct") in cg.mount_list() and ("cgroup2", "") in cg.mount_list()
    assert ("cgroup", "name=systemd") in cg.mount_list()


def test_joins_write_tasks_on_v1_and_cgroup_procs_on_v2(tmp_path: Path) -> None:
    text = HYBRID.replace("/sys/fs/cgroup", str(tmp_path))
    layout = cgroups.parse_mountinfo(text, read_controllers=False)
    cg = cgroups.ContainerCgroup(layout, "devenv", "c1")
    for h in layout.hierarchies:
        Path(cg.path(h)).mkdir(parents=True)
    cg.join_v1_thread()
    cg.join_v2(1234)
    for h in layout.hierarchies:
        written = sorted(p.name for p in Path(cg.path(h)).iterdir())
        assert written == (["cgroup.procs"] if h.fstype == "cgroup2" else ["tasks"])
    assert Path(cg.path(layout.unified), "cgroup.procs").read_text() == "1234"  # type: ignore[arg-type]
    fd = cg.open_v2()
    assert fd >= 0
    os.close(fd)


def test_fork_into_a_directory_that_is_not_a_v2_cgroup_fails_without_forking(tmp_path: Path) -> None:
    from devenv.runtime.embedded.syscalls import fork_into_cgroup

    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError):
            fork_into_cgroup(fd)  # (the supervisor then forks as usual and the init joins its cgroups)
    finally:
        os.close(fd)
