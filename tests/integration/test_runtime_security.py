"""Escapes tried from inside a container, and failing: the host's root through /proc/1/root, chroot
tricks, ``..`` and symlinks on the bind mount, symlinks planted at mount targets, device nodes of the
host's disk, mounts, the kernel's knobs; plus the capability set and seccomp."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv.runtime.base import Container, MountSpec
from devenv.runtime.embedded.runtime import EmbeddedRuntime
from tests.integration.runtime_helpers import bind, rootfs_spec, run_in

pytest_plugins = ("tests.integration.runtime_fixtures",)

HOST_MARKER = "/opt/devenv"  # exists on the host, never in the test images


@pytest.fixture
def src(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    (d / "up").symlink_to("../../../../../../../../..")
    (d / "abs").symlink_to("/")
    (d / "etc-link").symlink_to("/etc")
    return d


@pytest.fixture
def box(rt: EmbeddedRuntime, bb_rootfs: Path, src: Path) -> Iterator[Container]:
    c = rt.create(rootfs_spec(bb_rootfs, mounts=(bind(src, "/src"),)))
    rt.start(c.id)
    yield rt.get(c.id)


def sh(rt: EmbeddedRuntime, c: Container, script: str) -> tuple[int, str, str]:
    return run_in(rt, c.id, "sh", "-c", script)


def test_host_root_is_not_reachable_through_proc_1_root(rt: EmbeddedRuntime, box: Container) -> None:
    assert os.path.isdir(HOST_MARKER)
    # pid 1 (the runtime's init) is not dumpable: its /proc entries are closed to the container.
    code, _, err = sh(rt, box, "ls /proc/1/root/")
    assert code != 0 and "Permission denied" in err
    # A container process's root is the container's root, however it is walked.
    code, out, _ = sh(
        rt, box, f"ls /proc/$$/root/; ls -d /proc/$$/root{HOST_MARKER} /proc/$$/root/../../..{HOST_MARKER}"
    )
    assert code != 0
    assert "bin" in out.split()
    assert sh(rt, box, "cat /proc/$$/root/../../etc/hostname")[1].strip() == box.id[:12]
    # The container sees only its own processes: nothing of the host, not its supervisor.
    pids = sh(rt, box, "ls /proc | grep -E '^[0-9]+$'")[1].split()
    assert "1" in pids and all(int(p) < 100 for p in pids)


def test_dotdot_and_symlinks_on_the_bind_mount_stay_inside(rt: EmbeddedRuntime, box: Container, src: Path) -> None:
    for path in ("/src/up", "/src/abs", "/src/../../..", "/src/up/src/up"):
        code, out, _ = sh(rt, box, f"ls {path}{HOST_MARKER} 2>&1; cat {path}/etc/hostname")
        assert HOST_MARKER not in out.replace(f"ls: {path}{HOST_MARKER}", ""), path
        assert out.strip().endswith(box.id[:12]), path
    assert sh(rt, box, "cat /src/etc-link/hostname")[1].strip() == box.id[:12]
    # Writing through the links changes the container's files, never the host's.
    code, _, _ = sh(rt, box, "echo pwned > /src/abs/etc/pwned; echo x > /src/up/tmp/pwned")
    assert code == 0
    assert not Path("/etc/pwned").exists() and not Path("/tmp/pwned").exists()


def test_symlink_planted_at_a_mount_target_cannot_redirect_the_mount_to_the_host(
    rt: EmbeddedRuntime, bb_rootfs: Path, tmp_path: Path, src: Path
) -> None:
    host_dir = tmp_path / "host-side"
    host_dir.mkdir()
    c = rt.create(rootfs_spec(bb_rootfs, mounts=(bind(src, "/a/b"),)))
    rt.start(c.id)
    # The container replaces the mount's parent with a link to a host path, in its persistent upper dir.
    code, _, err = sh(rt, rt.get(c.id), f"mv /a /a-old && ln -s {host_dir} /a && ls -l /a")
    assert code == 0, err
    rt.stop(c.id, timeout=2)
    rt.start(c.id)
    # On restart the mount lands inside the container's root, at the link's target resolved there.
    code, out, _ = sh(rt, rt.get(c.id), f"ls {host_dir}/b/")
    assert code == 0 and "abs" in out.split()
    assert list(host_dir.iterdir()) == []  # nothing created or mounted on the host


def test_etc_files_planted_as_symlinks_do_not_touch_the_host(
    rt: EmbeddedRuntime, bb_rootfs: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("host data\n")
    c = rt.create(rootfs_spec(bb_rootfs))
    rt.start(c.id)
    code, _, _err = sh(
        rt, rt.get(c.id), f"umount /etc/hostname 2>/dev/null; rm -f /etc/hostname; ln -s {victim} /etc/hostname"
    )
    # /etc/hostname is a mount point: the container can neither unmount nor replace it.
    assert code != 0
    assert victim.read_text() == "host data\n"


def test_device_nodes_of_the_host_disk_cannot_be_read_or_mounted(rt: EmbeddedRuntime, box: Container) -> None:
    dev = os.stat("/").st_dev
    major, minor = os.major(dev), os.minor(dev)
    code, out, err = sh(
        rt, box, f"mknod /tmp/disk b {major} {minor} && echo made; head -c 16 /tmp/disk > /dev/null && echo READ"
    )
    assert "made" in out  # CAP_MKNOD is in Docker's default set ...
    assert "READ" not in out and "Operation not permitted" in err  # ... but the device cgroup refuses to open it
    code, _, err = sh(rt, box, "mkdir -p /mnt/x && mount /tmp/disk /mnt/x")
    assert code != 0
    code, _, _ = sh(rt, box, "mount -t proc proc /mnt/x || mount -t tmpfs t /mnt/x || mount --bind / /mnt/x")
    assert code != 0
    assert sh(rt, box, "ls /dev")[1].split() == sorted(
        [
            "core",
            "fd",
            "full",
            "mqueue",
            "null",
            "ptmx",
            "pts",
            "random",
            "shm",
            "stderr",
            "stdin",
            "stdout",
            "tty",
            "urandom",
            "zero",
        ]
    )


def test_kernel_knobs_are_read_only(rt: EmbeddedRuntime, box: Container) -> None:
    for path in ("/proc/sys/kernel/hostname", "/proc/sysrq-trigger", "/sys/kernel/mm/transparent_hugepage/enabled"):
        code, _, _ = sh(rt, box, f"echo x > {path}")
        assert code != 0, path
    assert sh(rt, box, "cat /proc/kcore | head -c 1 | wc -c")[1].strip() == "0"  # masked
    code, _, _ = sh(rt, box, "echo 1 > /sys/fs/cgroup/pids/pids.max")
    assert code != 0
    assert sh(rt, box, "umount /proc/sys 2>&1; echo $?")[1].strip().endswith("1")


def test_chroot_breakout_stays_in_the_container(rt: EmbeddedRuntime, debian_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(debian_rootfs, "sleep", "infinity"))
    rt.start(c.id)
    script = 'mkdir "/tmp/x"; chroot "/tmp/x" or die; chdir ".." for 1..64; chroot "." or die; print -d "/opt/devenv" ? "HOST\\n" : "inside\\n"'  # noqa: E501
    code, out, err = run_in(rt, c.id, "perl", "-e", script)
    assert (code, out) == (0, "inside\n"), err


def test_capabilities_are_dockers_default_set(rt: EmbeddedRuntime, box: Container) -> None:
    out = sh(rt, box, "grep -E '^Cap(Bnd|Eff|Inh)' /proc/self/status")[1].split()
    assert out == ["CapInh:", "0000000000000000", "CapEff:", "00000000a80425fb", "CapBnd:", "00000000a80425fb"]
    assert sh(rt, box, "grep Seccomp: /proc/self/status")[1].split() == ["Seccomp:", "2"]


def test_cap_add_drop_privileged_and_security_opts(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    def status(**kw: object) -> dict[str, str]:
        c = rt.create(
            rootfs_spec(bb_rootfs, "sh", "-c", "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status", **kw)
        )
        rt.start(c.id)
        rt.wait(c.id)
        return dict(line.split(":\t") for line in b"".join(rt.logs(c.id)).decode().splitlines())

    added = status(cap_add=("SYS_ADMIN",), cap_drop=("MKNOD", "NET_RAW"))
    sys_admin, mknod, net_raw = 1 << 21, 1 << 27, 1 << 13
    assert int(added["CapEff"], 16) == (0xA80425FB | sys_admin) & ~(mknod | net_raw)
    status_text = Path("/proc/self/status").read_text()
    bounding = next(line.split()[1] for line in status_text.splitlines() if line.startswith("CapBnd:"))
    assert status(privileged=True)["CapEff"] == bounding  # every capability the host grants
    assert status(privileged=True)["Seccomp"] == "0"
    opts = status(security_opt=("no-new-privileges", "seccomp=unconfined"))
    assert (opts["NoNewPrivs"], opts["Seccomp"]) == ("1", "0")


def test_custom_seccomp_profile_is_enforced(rt: EmbeddedRuntime, bb_rootfs: Path, tmp_path: Path) -> None:
    profile = tmp_path / "deny-mkdir.json"
    profile.write_text(
        '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}'  # noqa: E501
    )
    c = rt.create(rootfs_spec(bb_rootfs, security_opt=(f"seccomp={profile}",)))
    rt.start(c.id)
    code, _, err = sh(rt, rt.get(c.id), "mkdir /tmp/d")
    assert code != 0 and "Permission denied" in err
    assert sh(rt, rt.get(c.id), "touch /tmp/f && echo ok")[1] == "ok\n"


def test_default_seccomp_refuses_new_namespaces_even_with_sys_admin_dropped_later(
    rt: EmbeddedRuntime, box: Container
) -> None:
    code, _, err = sh(rt, box, "unshare -U true")  # user namespaces need no capability: seccomp stops them
    assert code != 0 and "Operation not permitted" in err


def test_tmpfs_and_read_only_mounts(rt: EmbeddedRuntime, bb_rootfs: Path, src: Path) -> None:
    c = rt.create(
        rootfs_spec(
            bb_rootfs,
            mounts=(bind(src, "/ro", read_only=True), MountSpec("tmpfs", "/scratch", options=("tmpfs-size=1m",))),
        )
    )
    rt.start(c.id)
    code, _, err = sh(rt, rt.get(c.id), "touch /ro/x")
    assert code != 0 and "Read-only" in err
    out = sh(rt, rt.get(c.id), "grep ' /scratch ' /proc/mounts")[1]
    assert out.startswith("tmpfs /scratch tmpfs") and "size=1024k" in out


def test_pid_1_tells_nothing_about_the_host(rt: EmbeddedRuntime, box: Container) -> None:
    assert sh(rt, box, "tr '\\0' ' ' < /proc/1/cmdline")[1].strip() == "devenv-init"
    code, _, err = sh(rt, box, "cat /proc/1/environ")
    assert code != 0 and "Permission denied" in err  # not dumpable: the host's environment stays hidden
