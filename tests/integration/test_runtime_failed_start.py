"""A container whose start fails, at whatever stage, with the real CLI: ``run --rm`` leaves nothing behind
and exits 125 with the reason; without ``--rm`` the container stays, inspectable; a supervisor killed
before it got its configuration leaks nothing that ``rm`` does not clean.

The early failure is realistic: the session that runs ``devenv`` is at its process limit (a ``pids``
cgroup, as systemd's ``TasksMax``) with room for the CLI and the supervisor but not for the container's
init, so the supervisor fails before the CLI has even created the container. An ``--env-file`` that is
a FIFO holds the CLI right after it spawned the supervisor (the env file is read then), so that a test can
act at exactly that point.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devenv.runtime.embedded import cgroups
from tests.integration.runtime_helpers import DEVENV, wait_for
from tests.integration.test_runtime_leaks import leftovers

pytest_plugins = ("tests.integration.runtime_fixtures",)


class PidsLimit:
    """A cgroup of its own with a ``pids`` limit; :meth:`join` (a ``preexec_fn``) moves a child into it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def join(self) -> None:
        (self.path / "cgroup.procs").write_text(str(os.getpid()))


@pytest.fixture
def pids_limit(request: pytest.FixtureRequest) -> Iterator[PidsLimit]:
    if os.geteuid() != 0:
        pytest.skip("a pids cgroup needs root")
    layout = cgroups.detect()
    root = next(
        (Path(h.mountpoint) for h in layout.hierarchies if h.fstype == "cgroup" and "pids" in h.controllers), None
    )
    if root is None and layout.pure_v2 and layout.unified is not None:
        unified = Path(layout.unified.mountpoint)
        if "pids" in (unified / "cgroup.subtree_control").read_text().split():
            root = unified
    if root is None:
        pytest.skip("no cgroup hierarchy with the pids controller to limit the CLI's processes in")
    path = root / f"devenv-test-pids-{os.getpid()}-{request.node.name[:40]}"
    path.mkdir()
    try:
        yield PidsLimit(path)
    finally:
        wait_for(lambda: (path / "pids.current").read_text().strip() == "0", 30, "the limited processes to end")
        path.rmdir()


def devenv(root: Path, *args: str, limit: PidsLimit | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ, DEVENV_ROOT=str(root), DEVENV_STARTER_LINGER="0")  # (the CLI itself does the work)
    return subprocess.Popen(
        [*DEVENV, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit.join if limit is not None else None,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def listed(root: Path) -> list[str]:
    """``container ls -a``: a line per container (after the header)."""
    proc = devenv(root, "container", "ls", "-a")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return [" ".join(line.split()) for line in out.splitlines()[1:]]


def inspect(root: Path, name: str) -> dict[str, Any]:
    proc = devenv(root, "container", "inspect", name)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    found: dict[str, Any] = json.loads(out)[0]
    return found


def container_dirs(root: Path) -> list[str]:
    base = root / "containers"
    return sorted(p.name for p in base.iterdir() if not p.name.startswith(".")) if base.is_dir() else []


def nothing_left(root: Path, ids: list[str]) -> None:
    """No container, directory, lock, retired directory or kernel object of ``ids`` (once the supervisors
    have ended)."""
    assert listed(root) == []
    assert container_dirs(root) == []
    for sub in (".locks", ".trash"):
        d = root / "containers" / sub
        wait_for(lambda d=d: not d.is_dir() or not any(d.iterdir()), 10, f"containers/{sub} to be empty")
    assert leftovers(root, ids, set()) == {}


@contextlib.contextmanager
def held_after_prestart(root: Path, fifo: Path) -> Iterator[list[str]]:
    """The CLI reads the ``--env-file`` FIFO after it spawned the supervisor: yields [the container's ID]
    once the supervisor runs, and lets the CLI go on (an empty env file) at the end of the block."""
    os.mkfifo(fifo)
    try:
        wait_for(lambda: len(container_dirs(root)) == 1, 30, "the supervisor to be spawned")
        yield container_dirs(root)
    finally:
        opener = threading.Thread(target=lambda: open(fifo, "w").close(), daemon=True)
        opener.start()
        opener.join(30)


def supervisor_of(root: Path, cid: str) -> int:
    """The pid of the container's supervisor (it has the container's log open), once it runs."""
    log = str(root / "containers" / cid / "container.log")
    found: list[int] = []

    def look() -> bool:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() != "devenv-sup":
                    continue
                if any(os.readlink(f"/proc/{pid}/fd/{fd}") == log for fd in os.listdir(f"/proc/{pid}/fd")):
                    found.append(int(pid))
                    return True
        return False

    wait_for(look, 30, f"the supervisor of {cid}")
    return found[0]


def has_cgroup(cid: str) -> bool:
    return any(Path(h.mountpoint, "devenv", cid).is_dir() for h in cgroups.detect().hierarchies)


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def run_args(bb_rootfs: Path, *options: str) -> list[str]:
    return ["container", "run", *options, "--network", "none", "--rootfs", str(bb_rootfs), "echo", "hi"]


def test_run_rm_whose_supervisor_fails_before_its_configuration_is_removed(
    devenv_root: Path, bb_rootfs: Path, pids_limit: PidsLimit
) -> None:
    """The bug of the closing note: left behind as "Exited (125)" although --rm promised to remove it."""
    (pids_limit.path / "pids.max").write_text("2")  # the CLI and the supervisor; not the container's init
    code, err = finish(devenv(devenv_root, *run_args(bb_rootfs, "--rm"), limit=pids_limit))
    assert code == 125, err
    assert "error: cannot start container" in err
    assert "hi" not in err
    nothing_left(devenv_root, [])


def test_run_rm_removed_when_the_supervisor_failed_before_the_container_existed(
    devenv_root: Path, bb_rootfs: Path, pids_limit: PidsLimit, tmp_path: Path
) -> None:
    """The supervisor fails (and has cleaned up) before the CLI has created the container's record."""
    (pids_limit.path / "pids.max").write_text("2")
    fifo = tmp_path / "env"
    proc = devenv(devenv_root, *run_args(bb_rootfs, "--rm", "--env-file", str(fifo)), limit=pids_limit)
    with held_after_prestart(devenv_root, fifo) as ids:
        state = devenv_root / "containers" / ids[0] / "state.json"
        wait_for(state.exists, 30, "the supervisor to record its failure")
        assert not (devenv_root / "containers" / ids[0] / "container.json").exists()
    code, err = finish(proc)
    assert code == 125, err
    assert "error: cannot start container" in err
    nothing_left(devenv_root, ids)


def test_run_without_rm_that_failed_to_start_stays_inspectable(
    devenv_root: Path, bb_rootfs: Path, pids_limit: PidsLimit
) -> None:
    (pids_limit.path / "pids.max").write_text("2")
    code, err = finish(devenv(devenv_root, *run_args(bb_rootfs, "--name", "kept"), limit=pids_limit))
    assert code == 125, err
    assert "error: cannot start container kept" in err
    (line,) = listed(devenv_root)
    assert line.endswith("Exited (125) kept")
    state = inspect(devenv_root, "kept")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 125)
    assert state["Error"] and state["Error"] in err
    ids = container_dirs(devenv_root)
    assert leftovers(devenv_root, ids, set()) == {}  # (its cgroup went with the failed start)
    assert finish(devenv(devenv_root, "container", "rm", "kept"))[0] == 0
    nothing_left(devenv_root, ids)


def test_run_whose_supervisor_cannot_be_spawned_reports_it_and_leaves_nothing(
    devenv_root: Path, bb_rootfs: Path, pids_limit: PidsLimit
) -> None:
    (pids_limit.path / "pids.max").write_text("1")  # the CLI alone
    code, err = finish(devenv(devenv_root, *run_args(bb_rootfs, "--rm"), limit=pids_limit))
    assert code == 125, err
    assert "Traceback" not in err
    assert "error: cannot start a container's supervisor process" in err
    assert "hint:" in err
    nothing_left(devenv_root, [])


@pytest.mark.parametrize("remove", [True, False])
def test_supervisor_killed_before_its_configuration(
    devenv_root: Path, bb_rootfs: Path, tmp_path: Path, remove: bool
) -> None:
    """kill -9 of the supervisor before the CLI sent the configuration: a clear error (no traceback), exit
    125; --rm: nothing left; else the container stays (created) and rm removes its cgroup too."""
    fifo = tmp_path / "env"
    options = ["--rm"] if remove else ["--name", "kept"]
    proc = devenv(devenv_root, *run_args(bb_rootfs, *options, "--env-file", str(fifo)))
    with held_after_prestart(devenv_root, fifo) as ids:
        cid = ids[0]
        sup = supervisor_of(devenv_root, cid)
        wait_for(lambda: has_cgroup(cid), 30, "the supervisor to create the container's cgroup")
        os.kill(sup, signal.SIGKILL)
        wait_for(lambda: gone(sup), 10, "the supervisor to die")
    code, err = finish(proc)
    assert code == 125, err
    assert "Traceback" not in err
    assert "exited while starting it" in err
    if remove:
        nothing_left(devenv_root, ids)
        return
    (line,) = listed(devenv_root)
    assert line.endswith("created kept")
    assert finish(devenv(devenv_root, "container", "rm", "kept"))[0] == 0
    nothing_left(devenv_root, ids)
