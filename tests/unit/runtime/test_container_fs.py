"""The container's mount sequence, recorded by a fake Syscalls (no root needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.runtime.embedded import container_fs
from devenv.runtime.embedded.config import MountEntry, RunConfig
from devenv.runtime.embedded.syscalls import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    RecordingSyscalls,
)


def config(tmp_path: Path, **kw: object) -> RunConfig:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir(exist_ok=True)
    cfg = RunConfig(
        id="c", name="c", argv=["sh"], env=[], hostname="h", state_dir=str(tmp_path),
        rootfs_driver="overlay", rootfs_dir=str(rootfs), rootfs_lower=["/l1", "/l2"],
        rootfs_upper="/u", rootfs_work="/w",
    )  # fmt: skip
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def targets(sys: RecordingSyscalls, tmp_path: Path) -> list[tuple[str | None, str | None, int]]:
    """(fstype, target relative to the rootfs, flags) of each mount; fd targets resolved."""
    out = []
    for source, target, fstype, flags, _data in sys.mounts():
        out.append((fstype or source, target, flags))
    return out


def test_root_is_made_private_then_the_overlay_stacks_lowest_last(tmp_path: Path) -> None:
    sys = RecordingSyscalls()
    container_fs.mount_root(sys, config(tmp_path))
    assert sys.mounts()[0] == (None, "/", None, MS_REC | MS_PRIVATE, None)
    assert sys.mounts()[1] == (
        "overlay",
        str(tmp_path / "rootfs"),
        "overlay",
        0,
        "lowerdir=/l2:/l1,upperdir=/u,workdir=/w",
    )


def test_copy_driver_binds_the_tree_onto_itself(tmp_path: Path) -> None:
    sys = RecordingSyscalls()
    cfg = config(tmp_path, rootfs_driver="copy")
    container_fs.mount_root(sys, cfg)
    assert sys.mounts()[1] == (cfg.rootfs_dir, cfg.rootfs_dir, None, MS_BIND | MS_REC, None)


def test_long_layer_lists_are_mounted_with_relative_paths() -> None:
    base = "/var/lib/devenv/snapshots/" + "x" * 60
    lower = [f"{base}/{i:03d}/fs" for i in range(60)]
    data, cwd = container_fs.overlay_options(lower, f"{base}/upper", f"{base}/work")
    assert cwd == base and data.startswith("lowerdir=059/fs:058/fs") and len(data) < 4096
    with pytest.raises(container_fs.SetupError, match="too many image layers"):
        container_fs.overlay_options([f"/{i:05d}/{'y' * 80}" for i in range(200)], "/u", "/w")


def test_full_setup_order_and_flags(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    hostfile = tmp_path / "hostname"
    hostfile.write_text("h\n")
    cfg = config(
        tmp_path,
        mounts=[
            MountEntry("bind", "/work/src", str(src), read_only=True),
            MountEntry("tmpfs", "/run", data="mode=755"),
        ],
        etc_files={"/etc/hostname": str(hostfile)},
    )
    sys = RecordingSyscalls()
    cwd = Path.cwd()
    try:
        container_fs.setup(sys, cfg, [("cgroup2", "")])
    finally:
        import os

        os.chdir(cwd)
    kinds = [(m[2] or m[0]) for m in sys.mounts()]
    # private, overlay, proc, dev tmpfs, devpts, shm, mqueue, sysfs, cgroup2, the user's, /etc files,
    # then (after pivot_root) masks and read-only /proc paths
    assert kinds[:9] == [None, "overlay", "proc", "tmpfs", "devpts", "tmpfs", "mqueue", "sysfs", "cgroup2"]
    by_type = {m[2]: m for m in sys.mounts() if m[2]}
    assert "newinstance" in by_type["devpts"][4] and "ptmxmode=0666" in by_type["devpts"][4]
    assert by_type["sysfs"][3] & MS_RDONLY and by_type["proc"][3] == MS_NOSUID | MS_NODEV | MS_NOEXEC
    binds = [m for m in sys.mounts() if m[0] == str(src)]
    assert binds and binds[0][3] == MS_BIND | MS_REC and binds[0][1].startswith("/proc/self/fd/")
    assert any(m[3] & MS_REMOUNT and m[3] & MS_RDONLY for m in sys.mounts())  # the read-only bind
    names = sys.names()
    assert names.index("pivot_root") > max(
        i for i, n in enumerate(names) if n == "mount" and i < names.index("pivot_root")
    )
    assert ("umount", ".", 2) in sys.calls  # the old root is detached
    dev = tmp_path / "rootfs/dev"
    assert {c[1] for c in sys.calls if c[0] == "mknod"} == {
        str(dev / n) for n in ("null", "zero", "full", "random", "urandom", "tty")
    }
    assert (dev / "ptmx").readlink() == Path("pts/ptmx") and (dev / "fd").readlink() == Path("/proc/self/fd")
    assert (tmp_path / "rootfs/work/src").is_dir() and (tmp_path / "rootfs/etc/hostname").is_file()


def test_failures_name_the_step(tmp_path: Path) -> None:
    sys = RecordingSyscalls(fail={"pivot_root": 22})
    with pytest.raises(container_fs.SetupError, match="pivot_root into the container's root failed"):
        container_fs.pivot(sys, str(tmp_path))
