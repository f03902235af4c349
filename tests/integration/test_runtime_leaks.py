"""Fifty create/start/exec/stop/rm cycles leave nothing behind: no mounts, no processes, no cgroups, no
network namespaces, no files, no file descriptors.

Other tests may run containers at the same time, so everything is checked against what these cycles
created: their container IDs, their data root and the inodes of their network namespaces.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from devenv.runtime.base import MountSpec
from devenv.runtime.embedded import cgroups
from devenv.runtime.embedded.runtime import EmbeddedRuntime
from tests.integration.runtime_helpers import bind, rootfs_spec, run_in

pytest_plugins = ("tests.integration.runtime_fixtures",)


def leftovers(devenv_root: Path, ids: list[str], netns_inodes: set[int]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"mounts": [], "processes": [], "cgroups": [], "netns": []}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if str(devenv_root) in line or any(cid in line for cid in ids):
            found["mounts"].append(line)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{pid}/ns/net").st_ino in netns_inodes:
                found["netns"].append(f"process {pid} is in a container's network namespace")
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            if comm not in ("devenv-init", "devenv-sup"):
                continue
            cgroup = Path(f"/proc/{pid}/cgroup").read_text()
            fds = " ".join(os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
            if any(cid in cgroup for cid in ids) or str(devenv_root) in fds:
                found["processes"].append(f"{pid} {comm}")
    for h in cgroups.detect().hierarchies:
        found["cgroups"] += [str(p) for p in Path(h.mountpoint, "devenv").glob("*") if p.name in ids]
    for entry in Path("/run/netns").glob("*") if Path("/run/netns").is_dir() else []:
        with contextlib.suppress(OSError):
            if os.stat(entry).st_ino in netns_inodes:
                found["netns"].append(f"/run/netns/{entry.name}")
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    found["netns"] += [line for line in names.splitlines() if any(cid[:12] in line for cid in ids)]
    return {k: v for k, v in found.items() if v}


@pytest.mark.slow
@pytest.mark.parametrize(("network", "supervisor"), [("none", "fork"), ("host", "exec")])
def test_fifty_cycles_leak_nothing(
    bb_rootfs: Path, devenv_root: Path, tmp_path: Path, network: str, supervisor: str
) -> None:
    rt = EmbeddedRuntime(devenv_root, supervisor_mode=supervisor)
    src = tmp_path / "src"
    src.mkdir()
    mounts = (bind(src, "/src"), MountSpec("volume", "/v", "cycles"), MountSpec("tmpfs", "/t"))
    spec = rootfs_spec(bb_rootfs, network=network, mounts=mounts)
    fds_before = sorted(os.listdir("/proc/self/fd"))
    ids: list[str] = []
    netns_inodes: set[int] = set()
    for i in range(50):
        c = rt.create(spec)
        ids.append(c.id)
        c = rt.start(c.id)
        assert c.pid
        if network != "host":
            netns_inodes.add(os.stat(f"/proc/{c.pid}/ns/net").st_ino)
        code, out, _ = run_in(rt, c.id, "sh", "-c", f"echo {i} > /src/last; cat /src/last")
        assert (code, out) == (0, f"{i}\n")
        rt.stop(c.id, timeout=5)
        rt.remove(c.id)
    assert leftovers(devenv_root, ids, netns_inodes) == {}
    assert sorted(os.listdir("/proc/self/fd")) == fds_before
    assert [p.name for p in (devenv_root / "containers").iterdir() if not p.name.startswith(".")] == []
    assert [p.name for p in (devenv_root / "containers/.locks").iterdir()] == []
    assert (src / "last").read_text() == "49\n"
    assert (devenv_root / "volumes/cycles/_data").is_dir()


def test_the_leak_check_sees_a_running_container(rt: EmbeddedRuntime, bb_rootfs: Path, devenv_root: Path) -> None:
    """The check above can fail: a container that is not removed shows up."""
    c = rt.start(rt.create(rootfs_spec(bb_rootfs)).id)
    assert c.pid
    found = leftovers(devenv_root, [c.id], {os.stat(f"/proc/{c.pid}/ns/net").st_ino})
    assert set(found) == {"processes", "cgroups", "netns"}
