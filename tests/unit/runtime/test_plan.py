"""Spec validation at create time and the RunConfig of a start."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.runtime.base import ContainerSpec, MountSpec, Resources
from devenv.runtime.embedded import plan


def spec(**kw: object) -> ContainerSpec:
    return ContainerSpec(image="x", command=("sh",), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"name": "bad name"}, "invalid container name"),
        ({"network": "overlay"}, "unknown network mode 'overlay'"),
        ({"cap_add": ("SYS_WIZARD",)}, "unknown capability 'SYS_WIZARD' in capAdd/capDrop"),
        ({"stop_signal": "SIGNOPE"}, "unknown stop signal"),
        ({"security_opt": ("apparmor=x", "seccomp")}, "give seccomp=unconfined or seccomp=/path"),
        ({"security_opt": ("wat=1",)}, "unknown securityOpt 'wat=1'"),
        ({"mounts": (MountSpec("bind", "rel", "/tmp"),)}, "must be an absolute path inside the container"),
        ({"mounts": (MountSpec("bind", "/x", "/does/not/exist"),)}, "bind mount source path does not exist"),
        ({"mounts": (MountSpec("volume", "/x", "../etc"),)}, "invalid volume name '../etc'"),
        ({"mounts": (MountSpec("tmpfs", "/x"), MountSpec("tmpfs", "/x"))}, "duplicate mount target /x"),
    ],
)
def test_invalid_specs_are_refused_with_the_reason(kw: dict[str, object], message: str) -> None:
    with pytest.raises(plan.SpecError, match=message):
        plan.validate(spec(**kw))


def test_unsupported_security_opts_are_warnings(tmp_path: Path) -> None:
    assert plan.validate(spec(security_opt=("label=disable",))) == [
        "securityOpt 'label=disable' is not supported by the embedded runtime and is ignored"
    ]
    profile = tmp_path / "p.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    sec = plan.parse_security_opts((f"seccomp={profile}", "no-new-privileges:true"))
    assert sec.seccomp == '{"defaultAction": "SCMP_ACT_ALLOW"}' and sec.no_new_privs
    assert not plan.parse_security_opts(("no-new-privileges=false",)).no_new_privs


def test_signals_and_tmpfs_options() -> None:
    assert [plan.parse_signal(s) for s in ("SIGTERM", "int", "9", "SIGWINCH")] == [15, 2, 9, 28]
    assert plan.tmpfs_data(("tmpfs-size=64m", "tmpfs-mode=1770")) == "size=64m,mode=1770"
    assert plan.tmpfs_data(()) == "mode=1777"


def run_config(s: ContainerSpec, device_control: bool = True) -> tuple[plan.RunConfig, list[str]]:
    return plan.run_config(
        container_id="id", name="n", spec=s, state_dir="/d", argv=["sh"], env=[], user="", workdir="",
        hostname="h", rootfs_driver="overlay", lower=["/l"], mounts=[], device_control=device_control,
        tty=False, stdin_open=False, auto_remove=False, anonymous_volumes=[], attach_network=False,
    )  # fmt: skip


def test_run_config_paths_limits_and_security() -> None:
    cfg, warnings = run_config(spec(resources=Resources(1024, 2.0, 10), security_opt=("no-new-privileges",)))
    assert (cfg.rootfs_dir, cfg.rootfs_upper, cfg.rootfs_work) == ("/d/rootfs", "/d/upper", "/d/work")
    assert cfg.etc_files == {
        "/etc/hostname": "/d/hostname",
        "/etc/hosts": "/d/hosts",
        "/etc/resolv.conf": "/d/resolv.conf",
    }
    assert (cfg.limits.memory_bytes, cfg.limits.cpus, cfg.limits.pids_limit) == (1024, 2.0, 10)
    assert cfg.no_new_privs and cfg.seccomp == "default" and "/proc/kcore" in cfg.masked_paths
    assert cfg.stop_signal == 15 and warnings == []


def test_privileged_has_no_masks_and_without_a_device_cgroup_mknod_goes() -> None:
    cfg, _ = run_config(spec(privileged=True))
    assert cfg.masked_paths == [] and cfg.readonly_paths == [] and cfg.privileged
    cfg, warnings = run_config(spec(), device_control=False)
    assert "MKNOD" not in cfg.caps
    assert any("CAP_MKNOD is dropped" in w for w in warnings)


def test_mount_entries_resolve_volumes_and_tmpfs() -> None:
    s = spec(
        mounts=(MountSpec("volume", "/v", "data", read_only=True), MountSpec("tmpfs", "/t", options=("tmpfs-size=1m",)))
    )
    entries = plan.mount_entries(s, {"/v": ("/root/volumes/data/_data", True)})
    assert [(e.kind, e.target, e.source, e.read_only, e.populate, e.data) for e in entries] == [
        ("bind", "/v", "/root/volumes/data/_data", True, True, ""),
        ("tmpfs", "/t", "", False, False, "size=1m,mode=1777"),
    ]
