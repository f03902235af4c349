"""The embedded runtime's container lifecycle on a real kernel: create, start, exec, stop, start again,
remove — with the busybox and Debian root filesystems."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from devenv.errors import ContainerError, ContainerNotFound
from devenv.runtime.base import ContainerStatus, MountSpec
from devenv.runtime.embedded import cgroups, state
from devenv.runtime.embedded.runtime import EmbeddedRuntime, StartFailed
from tests.integration.runtime_helpers import DEVENV, bind, rootfs_spec, run_in, wait_for

pytest_plugins = ("tests.integration.runtime_fixtures",)


def test_create_start_exec_stop_remove(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs, name="life"))
    assert c.status is ContainerStatus.CREATED and c.name == "life"
    c = rt.start("life")
    assert c.status is ContainerStatus.RUNNING and c.pid
    code, out, _ = run_in(rt, c.id, "sh", "-c", "echo $$; cat /proc/1/comm; hostname")
    assert code == 0
    pid_inside, init_name, hostname = out.split()
    assert int(pid_inside) > 1  # a process of the container's own pid namespace
    assert init_name == "devenv-init"
    assert hostname == c.id[:12]
    c = rt.stop("life", timeout=5)
    assert c.status is ContainerStatus.STOPPED
    assert c.exit_code == 128 + signal.SIGTERM  # init forwarded SIGTERM to sleep, which died of it
    rt.remove("life")
    with pytest.raises(ContainerNotFound):
        rt.get("life")


def test_start_runs_the_callers_work_meanwhile_and_reports_its_error_after(
    rt: EmbeddedRuntime, bb_rootfs: Path
) -> None:
    """``start(meanwhile=...)``: the caller's work runs once, while the supervisor starts the container;
    an error in it comes after the start, the container running."""
    c = rt.create(rootfs_spec(bb_rootfs))
    calls: list[int] = []
    assert rt.start(c.id, meanwhile=lambda: calls.append(1)).status is ContainerStatus.RUNNING
    assert calls == [1]
    rt.stop(c.id, timeout=5)

    def broken() -> None:
        raise ValueError("the caller's own failure")

    with pytest.raises(ValueError, match="the caller's own failure"):
        rt.start(c.id, meanwhile=broken)
    assert rt.get(c.id).status is ContainerStatus.RUNNING
    rt.remove(c.id, force=True)


def test_stop_of_a_stopped_container_is_a_no_op(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs, "true"))
    rt.start(c.id)
    assert rt.wait(c.id, timeout=10) == 0
    again = rt.stop(c.id)
    assert again.status is ContainerStatus.STOPPED and again.exit_code == 0


def test_stop_kills_after_the_timeout_when_the_signal_is_ignored(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    script = "trap '' TERM; touch /tmp/trapped; while true; do sleep 1; done"
    c = rt.create(rootfs_spec(bb_rootfs, "sh", "-c", script))
    rt.start(c.id)
    wait_for(lambda: run_in(rt, c.id, "test", "-e", "/tmp/trapped")[0] == 0, what="the trap")  # (else a race)
    started = time.monotonic()
    c = rt.stop(c.id, timeout=1)
    assert 0.9 <= time.monotonic() - started < 10
    assert c.exit_code == 128 + signal.SIGKILL


def test_stop_and_start_keep_the_files_written_in_the_container(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs))
    rt.start(c.id)
    assert run_in(rt, c.id, "sh", "-c", "echo kept > /root/note; rm /bin/vi; mkdir -p /opt/new")[0] == 0
    rt.stop(c.id, timeout=2)
    rt.start(c.id)
    code, out, _ = run_in(rt, c.id, "sh", "-c", "cat /root/note; test -e /bin/vi || echo vi-gone; ls -d /opt/new")
    assert code == 0
    assert out.split() == ["kept", "vi-gone", "/opt/new"]
    assert (bb_rootfs / "bin/vi").is_symlink()  # the image's directory itself is untouched


def test_debian_stop_start_keeps_files_and_packages_state(rt: EmbeddedRuntime, debian_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(debian_rootfs, "sleep", "infinity"))
    rt.start(c.id)
    code, out, err = run_in(
        rt, c.id, "bash", "-c", "useradd -m -u 1234 alice && echo hello > /home/alice/f && id alice"
    )
    assert code == 0, err
    assert "uid=1234(alice)" in out
    rt.stop(c.id, timeout=2)
    rt.start(c.id)
    code, out, _ = run_in(rt, c.id, "cat", "/home/alice/f", user="alice")
    assert (code, out) == (0, "hello\n")
    assert run_in(rt, c.id, "id", "-un", user="alice")[1] == "alice\n"


def test_container_survives_the_cli_that_started_it(rt: EmbeddedRuntime, bb_rootfs: Path, devenv_root: Path) -> None:
    env = dict(os.environ, DEVENV_ROOT=str(devenv_root))
    cli = subprocess.Popen(
        [*DEVENV, "container", "run", "--name", "fg", "--network", "none", "--rootfs", str(bb_rootfs), "sleep", "3600"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def running() -> bool:
        try:
            return rt.get("fg").status is ContainerStatus.RUNNING
        except ContainerError:
            return False

    wait_for(running, what="the container to run")
    cli.kill()  # kill -9 of the supervisor's CLI parent
    cli.wait()
    time.sleep(0.2)
    c = rt.get("fg")
    assert c.status is ContainerStatus.RUNNING
    assert run_in(rt, c.id, "echo", "alive") == (0, "alive\n", "")


def test_detached_run_outlives_the_cli(cli: object, rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    proc = cli(
        "container", "run", "-d", "--name", "bg", "--network", "none", "--rootfs", str(bb_rootfs), "sleep", "3600"
    )  # type: ignore[operator]
    assert proc.returncode == 0, proc.stderr
    cid = proc.stdout.strip()
    assert len(cid) == 64
    assert rt.get("bg").status is ContainerStatus.RUNNING


def test_rm_removes_everything_but_volumes_and_the_bind_source(
    rt: EmbeddedRuntime, bb_rootfs: Path, tmp_path: Path, devenv_root: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "keep.txt").write_text("mine")
    spec = rootfs_spec(
        bb_rootfs,
        mounts=(bind(src, "/src"), MountSpec("volume", "/data", "keepvol"), MountSpec("volume", "/anon")),
    )
    c = rt.create(spec)
    rt.start(c.id)
    assert run_in(rt, c.id, "sh", "-c", "echo v > /data/v; echo a > /anon/a; echo s > /src/new")[0] == 0
    state_dir = Path(rt.state_dir(c.id))
    cg = cgroups.ContainerCgroup(cgroups.detect(), "devenv", c.id)
    assert cg.exists()
    with pytest.raises(ContainerError, match="is running"):
        rt.remove(c.id)
    rt.remove(c.id, force=True)
    assert not state_dir.exists()
    assert not cg.exists()
    assert (src / "keep.txt").read_text() == "mine" and (src / "new").read_text() == "s\n"
    assert (devenv_root / "volumes/keepvol/_data/v").read_text() == "v\n"
    anon = [v for v in (devenv_root / "volumes").iterdir() if v.name not in ("keepvol", ".lock")]
    assert len(anon) == 1  # the anonymous volume stays without --volumes (docker rm without -v)


def test_rm_with_volumes_removes_anonymous_volumes_only(
    rt: EmbeddedRuntime, bb_rootfs: Path, devenv_root: Path
) -> None:
    c = rt.create(
        rootfs_spec(bb_rootfs, "true", mounts=(MountSpec("volume", "/n", "named"), MountSpec("volume", "/a")))
    )
    rt.start(c.id)
    rt.wait(c.id)
    rt.remove(c.id, volumes=True)
    assert sorted(p.name for p in (devenv_root / "volumes").iterdir() if not p.name.startswith(".")) == ["named"]


def test_start_failure_is_reported_and_leaves_a_startable_container(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs, "/no/such/program"))
    with pytest.raises(StartFailed) as err:
        rt.start(c.id)
    assert err.value.command_exit_code == 127
    assert "/no/such/program" in err.value.message
    got = rt.get(c.id)
    assert got.status is ContainerStatus.STOPPED and got.exit_code == 127
    assert not cgroups.ContainerCgroup(cgroups.detect(), "devenv", c.id).exists()


def test_killed_supervisor_reads_as_stopped_after_the_container_dies(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs))
    rt.start(c.id)
    st = state.read(rt.state_dir(c.id))
    assert st.supervisor is not None and st.init is not None
    os.kill(st.supervisor.pid, signal.SIGKILL)
    time.sleep(0.1)
    assert rt.get(c.id).status is ContainerStatus.RUNNING  # the container does not depend on it
    c = rt.stop(c.id, timeout=2)
    assert c.status is ContainerStatus.STOPPED
    assert not cgroups.ContainerCgroup(cgroups.detect(), "devenv", c.id).exists()
    rt.start(c.id)  # and it starts again
    assert run_in(rt, c.id, "true")[0] == 0


def test_names_are_unique_and_ids_resolve_by_prefix(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs, name="one"))
    with pytest.raises(ContainerError, match="already in use"):
        rt.create(rootfs_spec(bb_rootfs, name="one"))
    assert rt.get(c.id[:10]).name == "one"
    with pytest.raises(ContainerNotFound):
        rt.get("nope")


def test_after_a_reboot_the_container_reads_as_stopped_and_starts_again(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs))
    rt.start(c.id)
    assert run_in(rt, c.id, "sh", "-c", "echo before > /root/f")[0] == 0
    st = state.read(rt.state_dir(c.id))
    assert st.supervisor is not None and st.init is not None
    # A "reboot": every process of the container gone at once, the recorded boot no longer current.
    os.kill(st.supervisor.pid, signal.SIGKILL)
    os.kill(st.init.pid, signal.SIGKILL)
    wait_for(lambda: not st.init.alive())  # type: ignore[union-attr]
    st.init = st.init._replace(boot="an-earlier-boot")
    state.write(rt.state_dir(c.id), st)
    assert rt.get(c.id).status is ContainerStatus.STOPPED
    rt.start(c.id)
    assert run_in(rt, c.id, "cat", "/root/f") == (0, "before\n", "")
    assert len(cgroups.ContainerCgroup(cgroups.detect(), "devenv", c.id).pids()) == 2  # the new init and sleep


@pytest.mark.parametrize("supervisor", ["fork", "exec"])
def test_copy_driver_keeps_files_across_stop_and_start(bb_rootfs: Path, devenv_root: Path, supervisor: str) -> None:
    rt = EmbeddedRuntime(devenv_root, rootfs_driver="copy", supervisor_mode=supervisor)
    c = rt.create(rootfs_spec(bb_rootfs))
    try:
        rt.start(c.id)
        assert run_in(rt, c.id, "sh", "-c", "echo copy > /root/f; rm /bin/vi")[0] == 0
        rt.stop(c.id, timeout=2)
        rt.start(c.id)
        assert run_in(rt, c.id, "sh", "-c", "cat /root/f; test -e /bin/vi || echo gone")[1] == "copy\ngone\n"
        assert (bb_rootfs / "bin/vi").is_symlink()
        changes = rt.rootfs_changes(c.id)
        assert changes.driver == "copy" and Path(changes.upper.source, "root/f").read_text() == "copy\n"
    finally:
        rt.remove(c.id, force=True)


def test_overlay_changes_are_the_upper_dir(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs, "sh", "-c", "echo x > /new; rm /bin/vi"))
    rt.start(c.id)
    assert rt.wait(c.id) == 0
    changes = rt.rootfs_changes(c.id)
    upper = Path(changes.upper.source)
    assert changes.driver == "overlay" and (upper / "new").read_text() == "x\n"
    whiteout = (upper / "bin/vi").lstat()
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0  # overlayfs whiteout
    assert [m.source for m in changes.lower] == [str(bb_rootfs)]


def test_a_container_whose_data_root_is_deleted_stops_instead_of_leaking(bb_rootfs: Path, tmp_path: Path) -> None:
    import shutil

    from devenv.runtime.embedded import monitor

    root = tmp_path / "doomed-root"
    rt = EmbeddedRuntime(root)
    c = rt.start(rt.create(rootfs_spec(bb_rootfs)).id)
    assert c.pid
    cg = cgroups.ContainerCgroup(cgroups.detect(), "devenv", c.id)
    time.sleep(monitor.IDLE_HANDOFF + 0.5)  # the lean monitor watches for its directory
    shutil.rmtree(root)
    wait_for(lambda: not cg.exists(), timeout=monitor.ORPHAN_CHECK + 10, what="the orphan to stop and clean up")
    assert state.start_time(c.pid) is None
