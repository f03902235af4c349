"""The starter: after a ``devenv container run``, the next ones of the same data root are run by a process
that has the start path loaded (:mod:`devenv.runtime.embedded.starter`), with the same results as the
CLI's own; it is not needed (killed, or gone after its idle time, the CLI does the work itself)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devenv.runtime.embedded import starter
from tests.integration.runtime_helpers import DEVENV, wait_for

pytest_plugins = ("tests.integration.runtime_fixtures",)

Cli = Callable[..., subprocess.CompletedProcess[str]]


def starter_pids(root: Path, *, helpers: bool = False) -> list[int]:
    """The root's starter (``helpers``: with its waiting worker and that worker's spare supervisor)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            if Path(f"/proc/{entry}/comm").read_text().strip() != "devenv-starter":
                continue  # (a supervisor forked from a worker: its command line is the starter's)
        except OSError:
            continue
        if len(argv) > 4 and b"embedded.starter import main" in argv[3] and argv[4] == os.fsencode(root):
            found.append(int(entry))
    return found if helpers else [pid for pid in found if parent(pid) not in found and holds_lock(pid)]


def holds_lock(pid: int) -> bool:
    """(A spare supervisor whose worker just exited is briefly an orphan too; it holds no lock.)"""
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").endswith(".lock") for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def worker_of(starter_pid: int, stdout: int) -> int | None:
    """The starter's worker whose standard output is the pipe ``stdout`` reads (the one running a
    command: another one waits for the next)."""
    pipe = f"pipe:[{os.fstat(stdout).st_ino}]"
    for pid in children(starter_pid):
        try:
            if os.readlink(f"/proc/{pid}/fd/1") == pipe:
                return pid
        except OSError:
            continue
    return None


@pytest.fixture
def warm(devenv_root: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli, bb_rootfs: Path) -> int:
    """A starter for the test's data root (started by a first run); its pid."""
    monkeypatch.setenv("DEVENV_STARTER_LINGER", "30")
    first = cli("container", "run", "--rm", "--network", "none", "--rootfs", str(bb_rootfs), "true")
    assert first.returncode == 0, first.stderr
    wait_for(lambda: len(starter_pids(devenv_root)) == 1, what="a starter")
    wait_for(lambda: os.path.exists(starter.socket_name(str(devenv_root))), what="its socket")
    pid = starter_pids(devenv_root)[0]
    yield pid
    os.kill(pid, signal.SIGKILL)


def test_runs_through_the_starter_give_the_clis_results(
    warm: int, cli: Cli, bb_rootfs: Path, devenv_root: Path, tmp_path: Path
) -> None:
    base = ("container", "run", "--rm", "--network", "none", "--rootfs", str(bb_rootfs))
    proc = cli(*base, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out\n", "err\n")
    (tmp_path / "vars").write_text("FROM_FILE=yes\n")
    env = dict(os.environ, DEVENV_ROOT=str(devenv_root), FROM_CLI="passed")
    proc = subprocess.run(
        [
            *DEVENV,
            *base[:3],
            "-i",
            "-e",
            "FROM_CLI",
            "--env-file",
            "vars",
            *base[3:],
            "sh",
            "-c",
            "cat; echo $FROM_CLI $FROM_FILE",
        ],
        input="from stdin\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # (--env-file relative to the CLI's directory)
        timeout=60,
    )
    assert (proc.returncode, proc.stdout) == (0, "from stdin\npassed yes\n"), proc.stderr
    missing = cli(*base, "no-such-command")
    assert missing.returncode == 127 and "executable file not found" in missing.stderr
    usage = cli("container", "run", "--network", "bogus", "--rootfs", str(bb_rootfs), "true")
    assert usage.returncode == 2 and "--network 'bogus'" in usage.stderr
    assert starter_pids(devenv_root) == [warm]  # (the same starter served them all)


def test_the_command_runs_in_a_worker_of_the_starter_and_gets_the_clis_signals(
    warm: int, bb_rootfs: Path, devenv_root: Path
) -> None:
    script = "trap 'echo got INT; exit 42' INT; echo ready; while true; do sleep 0.1; done"
    client = subprocess.Popen(
        [*DEVENV, "container", "run", "--rm", "--network", "none", "--rootfs", str(bb_rootfs), "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, DEVENV_ROOT=str(devenv_root)),
    )
    try:
        assert client.stdout is not None
        assert client.stdout.readline() == "ready\n"
        assert worker_of(warm, client.stdout.fileno()) is not None  # the worker running this command
        assert children(client.pid) == []  # (the CLI itself only waits)
        client.send_signal(signal.SIGINT)
        out, err = client.communicate(timeout=30)
    finally:
        client.kill()
    assert (client.returncode, out) == (42, "got INT\n"), err


def test_a_killed_cli_ends_its_worker_and_the_container_keeps_running(
    warm: int, cli: Cli, bb_rootfs: Path, devenv_root: Path
) -> None:
    run = ("container", "run", "--name", "kept", "--network", "none", "--rootfs", str(bb_rootfs))
    client = subprocess.Popen(
        [*DEVENV, *run, "sh", "-c", "echo ready; sleep 60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, DEVENV_ROOT=str(devenv_root)),
    )
    assert client.stdout is not None
    assert client.stdout.readline() == "ready\n"
    worker = worker_of(warm, client.stdout.fileno())
    assert worker is not None
    client.kill()
    client.wait()
    client.stdout.close()
    wait_for(lambda: not os.path.exists(f"/proc/{worker}"), what="the worker's end")
    assert '"Status": "running"' in cli("container", "inspect", "kept").stdout
    assert cli("container", "rm", "-f", "kept").returncode == 0


def test_without_a_starter_the_cli_does_the_work_and_leaves_a_new_one(
    warm: int, cli: Cli, bb_rootfs: Path, devenv_root: Path
) -> None:
    os.kill(warm, signal.SIGKILL)
    # Its waiting worker and that worker's spare supervisor go with it (nothing holds the socket).
    wait_for(lambda: not starter_pids(devenv_root, helpers=True), what="the end of the starter and its helpers")
    proc = cli("container", "run", "--rm", "--network", "none", "--rootfs", str(bb_rootfs), "sh", "-c", "exit 5")
    assert proc.returncode == 5, proc.stderr
    wait_for(lambda: len(starter_pids(devenv_root)) == 1, what="a new starter")
    for pid in starter_pids(devenv_root):
        os.kill(pid, signal.SIGKILL)


def test_an_idle_starter_leaves_and_removes_its_socket_and_lock_file(
    cli: Cli, bb_rootfs: Path, devenv_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVENV_STARTER_LINGER", "1")
    assert cli("container", "run", "--rm", "--network", "none", "--rootfs", str(bb_rootfs), "true").returncode == 0
    wait_for(lambda: len(starter_pids(devenv_root)) == 1, what="a starter")
    started = time.monotonic()
    wait_for(lambda: not starter_pids(devenv_root, helpers=True), timeout=15, what="the idle starter's end")
    assert time.monotonic() - started < 10  # (its waiting worker and spare supervisor with it)
    assert not os.path.exists(starter.socket_name(str(devenv_root)))
    assert not os.path.exists(starter.socket_name(str(devenv_root)).removesuffix(".sock") + ".lock")  # (no pile)


def test_no_starter_with_linger_zero(
    cli: Cli, bb_rootfs: Path, devenv_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVENV_STARTER_LINGER", "0")
    assert cli("container", "run", "--rm", "--network", "none", "--rootfs", str(bb_rootfs), "true").returncode == 0
    time.sleep(0.5)
    assert starter_pids(devenv_root) == []


def test_a_client_standing_elsewhere_works_alone(warm: int, bb_rootfs: Path, devenv_root: Path) -> None:
    # Other resource limits (or fewer capabilities, other namespaces): the starter's worker would run
    # the command with the starter's; the CLI does it itself, and the container gets the CLI's limits.
    run = ("container", "run", "--rm", "--network", "none", "--rootfs", str(bb_rootfs), "sh", "-c", "ulimit -n")
    env = dict(os.environ, DEVENV_ROOT=str(devenv_root))
    limited = subprocess.run(
        ["prlimit", "--nofile=512:512", *DEVENV, *run], capture_output=True, text=True, env=env, timeout=60
    )
    assert (limited.returncode, limited.stdout) == (0, "512\n"), limited.stderr
    plain = subprocess.run([*DEVENV, *run], capture_output=True, text=True, env=env, timeout=60)
    assert plain.returncode == 0 and plain.stdout != "512\n"
    assert starter_pids(devenv_root) == [warm]  # (still there, for the clients like it)
