"""``devenv container ...`` and ``devenv volume ...`` as users type them, against the real runtime."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ImageFixture
from tests.integration.runtime_helpers import DEVENV, wait_for

pytest_plugins = ("tests.integration.runtime_fixtures",)

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_run_rm_prints_output_and_returns_the_exit_code(cli: Cli, bb_rootfs: Path, devenv_root: Path) -> None:
    proc = cli(
        "container",
        "run",
        "--rm",
        "--network",
        "none",
        "--rootfs",
        str(bb_rootfs),
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out\n", "err\n")
    assert [p for p in (devenv_root / "containers").iterdir() if not p.name.startswith(".")] == []


def test_run_errors_use_dockers_exit_codes(cli: Cli, bb_rootfs: Path) -> None:
    base = ("container", "run", "--rm", "--network", "none", "--rootfs", str(bb_rootfs))
    missing = cli(*base, "no-such-command")
    assert missing.returncode == 127 and 'exec: "no-such-command": executable file not found' in missing.stderr
    denied = cli(*base, "/etc/passwd")
    assert denied.returncode == 126 and "permission denied" in denied.stderr
    bad = cli("container", "run", "--rm", "-v", "/nonexistent-dir:/x", "--rootfs", str(bb_rootfs), "true")
    assert bad.returncode == 6 and "bind mount source path does not exist: /nonexistent-dir" in bad.stderr
    assert "Traceback" not in bad.stderr
    usage = cli("container", "run", "--network", "bogus", "--rootfs", str(bb_rootfs), "true")
    assert usage.returncode == 2 and "--network 'bogus'" in usage.stderr


def test_detached_lifecycle_ls_logs_inspect_stop_start_rm(cli: Cli, bb_rootfs: Path) -> None:
    script = "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"
    run = cli(
        "container",
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "none",
        "-l",
        "app=demo",
        "--rootfs",
        str(bb_rootfs),
        "sh",
        "-c",
        script,
    )
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    ls = cli("container", "ls")
    assert "web" in ls.stdout and cid[:12] in ls.stdout and "Up since" in ls.stdout
    as_json = json.loads(cli("--log-format", "json", "container", "ls", "--filter-label", "app=demo").stdout)
    assert [c["name"] for c in as_json] == ["web"]
    wait_for(lambda: "started" in cli("container", "logs", "web").stdout, what="output in the log")
    inspect = json.loads(cli("container", "inspect", "web").stdout)[0]
    assert inspect["Id"] == cid and inspect["State"]["Running"] and inspect["Config"]["Labels"] == {"app": "demo"}
    assert inspect["State"]["Pid"] > 0
    assert cli("container", "exec", "web", "cat", "/etc/hostname").stdout == cid[:12] + "\n"
    stop = cli("container", "stop", "web")
    assert stop.returncode == 0
    assert cli("container", "logs", "web").stdout == "started\nbye\n"
    assert "Exited (0)" in cli("container", "ls", "-a").stdout
    assert cli("container", "ls").stdout.count("\n") == 1  # only the header: it is not running
    assert cli("container", "start", "web").returncode == 0
    assert json.loads(cli("container", "inspect", "web").stdout)[0]["State"]["Running"]
    refused = cli("container", "rm", "web")
    assert refused.returncode == 6 and "is running" in refused.stderr and "--force" in refused.stderr
    assert cli("container", "rm", "-f", "web").returncode == 0
    assert cli("container", "ls", "-aq").stdout == ""


def test_logs_follow_streams_until_the_container_exits(cli: Cli, bb_rootfs: Path, devenv_root: Path) -> None:
    run = cli(
        "container",
        "run",
        "-d",
        "--network",
        "none",
        "--rootfs",
        str(bb_rootfs),
        "sh",
        "-c",
        "for i in 1 2 3; do echo line$i; echo err$i >&2; sleep 0.3; done",
    )
    cid = run.stdout.strip()
    env = dict(os.environ, DEVENV_ROOT=str(devenv_root))
    started = time.monotonic()
    follow = subprocess.run(
        [*DEVENV, "container", "logs", "-f", cid], env=env, capture_output=True, text=True, timeout=30
    )
    assert follow.stdout == "line1\nline2\nline3\n"
    assert follow.stderr == "err1\nerr2\nerr3\n"
    assert time.monotonic() - started >= 0.5  # it waited for the lines still to come


def test_volume_commands(cli: Cli, bb_rootfs: Path) -> None:
    base = ("container", "run", "--rm", "--network", "none", "-v", "data:/data", "--rootfs", str(bb_rootfs))
    assert cli(*base, "sh", "-c", "echo persisted > /data/f").returncode == 0
    assert cli(*base, "cat", "/data/f").stdout == "persisted\n"
    assert "data" in cli("volume", "ls", "-q").stdout.split()
    keep = cli(
        "container",
        "run",
        "-d",
        "--name",
        "user",
        "--network",
        "none",
        "-v",
        "data:/data",
        "--rootfs",
        str(bb_rootfs),
        "sleep",
        "60",
    )
    assert keep.returncode == 0
    in_use = cli("volume", "rm", "data")
    assert in_use.returncode == 6 and "in use by container user" in in_use.stderr
    cli("container", "rm", "-f", "user", check=True)
    assert cli("volume", "rm", "data").returncode == 0
    assert "data" not in cli("volume", "ls", "-q").stdout.split()


def test_new_volume_gets_the_images_content(cli: Cli, bb_rootfs: Path) -> None:
    out = cli(
        "container",
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "etcvol:/etc",
        "--rootfs",
        str(bb_rootfs),
        "cat",
        "/etc/group",
    )
    assert out.stdout.startswith("root:x:0:")


def test_help_falls_back_to_the_full_parser(cli: Cli) -> None:
    proc = cli("container", "run", "--help")
    assert proc.returncode == 0 and "--rootfs" in proc.stdout and "--publish" in proc.stdout


@pytest.mark.registry
def test_run_an_image_from_the_registry(cli: Cli, busybox_image: ImageFixture) -> None:
    proc = cli(
        "container",
        "run",
        "--rm",
        "--network",
        "none",
        busybox_image.ref,
        "sh",
        "-c",
        "cat /etc/passwd | head -1; id -un",
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "root:x:0:0:root:/root:/bin/sh\nroot\n"
    again = cli("container", "run", "--rm", "--network", "none", "-u", "dev", busybox_image.ref, "id", "-u")
    assert again.stdout == "1000\n"


def test_attached_run_forwards_signals_to_the_container(bb_rootfs: Path, devenv_root: Path) -> None:
    import signal

    env = dict(os.environ, DEVENV_ROOT=str(devenv_root))
    script = "trap 'echo got-int; exit 7' INT; echo ready; while true; do sleep 0.1; done"
    proc = subprocess.Popen(
        [*DEVENV, "container", "run", "--rm", "--network", "none", "--rootfs", str(bb_rootfs), "sh", "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)  # as Ctrl-C in a terminal: docker run's sig-proxy
    out, _ = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (7, "got-int\n")


def test_exec_detach_leaves_the_process_running(cli: Cli, bb_rootfs: Path) -> None:
    cli(
        "container",
        "run",
        "-d",
        "--name",
        "host",
        "--network",
        "none",
        "--rootfs",
        str(bb_rootfs),
        "sleep",
        "600",
        check=True,
    )
    started = time.monotonic()
    proc = cli("container", "exec", "-d", "host", "sh", "-c", "sleep 1; echo done > /tmp/mark; sleep 600")
    assert proc.returncode == 0 and proc.stdout == "" and time.monotonic() - started < 10
    wait_for(
        lambda: cli("container", "exec", "host", "cat", "/tmp/mark").stdout == "done\n", what="the detached process"
    )
    assert "sleep 600" in cli("container", "exec", "host", "ps", "-o", "args").stdout


@pytest.mark.parametrize("network", ["none", "bridge"])
def test_a_run_that_cannot_create_its_container_leaves_nothing(
    cli: Cli, bb_rootfs: Path, devenv_root: Path, network: str
) -> None:
    """``run`` spawns the supervisor before it creates the container (their work overlaps); when the
    creation fails, the supervisor undoes its cgroup, namespaces and network and removes the directory."""
    base = ("container", "run", "--rm", "--network", network)
    assert cli(*base, "--name", "taken", "-d", "--rootfs", str(bb_rootfs), "sleep", "60").returncode == 0
    again = cli(*base, "--name", "taken", "--rootfs", str(bb_rootfs), "true")
    assert again.returncode != 0 and "already in use" in again.stderr
    missing = cli(*base, "--rootfs", str(devenv_root / "no-such-dir"), "true")
    assert missing.returncode != 0 and "not a directory" in missing.stderr
    cli("container", "rm", "-f", "taken")

    def ours(pid: str) -> bool:
        """A supervisor or container init of this data root (its files are open there)."""
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() not in ("devenv-sup", "devenv-init"):
                return False
            return any(str(devenv_root) in os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            return False

    def clean() -> bool:
        dirs = [p.name for p in (devenv_root / "containers").iterdir() if not p.name.startswith(".")]
        return dirs == [] and not [pid for pid in os.listdir("/proc") if pid.isdigit() and ours(pid)]

    wait_for(clean, timeout=10)


def test_stop_and_rm_of_a_running_rm_container_return_at_once(cli: Cli, bb_rootfs: Path, devenv_root: Path) -> None:
    """The supervisor of a --rm container removes it when it exits, under the container's lock: stop and
    rm -f must not hold that lock while they wait for the supervisor (they did: 30 s, the wait's limit)."""
    base = ("container", "run", "--rm", "-d", "--network", "none", "--rootfs", str(bb_rootfs), "sleep", "60")
    for verb in (("stop", "--time", "1"), ("rm", "-f")):
        name = f"quick-{verb[0]}"
        assert cli(*base[:3], "--name", name, *base[3:]).returncode == 0
        started = time.monotonic()
        assert cli("container", *verb, name).returncode == 0
        assert time.monotonic() - started < 10
        assert name not in cli("container", "ls", "-a").stdout
    assert [p.name for p in (devenv_root / "containers" / ".locks").iterdir()] == []


def test_stdin_may_be_a_regular_file_or_dev_null(cli: Cli, bb_rootfs: Path, devenv_root: Path, tmp_path: Path) -> None:
    """epoll refuses regular files and /dev/null (EPERM): run -i and exec -i still read them."""
    data = tmp_path / "input.txt"
    data.write_bytes(b"x" * 300_000 + b"\n")  # more than a pipe holds
    env = dict(os.environ, DEVENV_ROOT=str(devenv_root))
    base = ["container", "run", "--rm", "-i", "--network", "none", "--rootfs", str(bb_rootfs), "wc", "-c"]
    name = "stdin-files"
    assert cli("container", "run", "-d", "--name", name, "--network", "none", "--rootfs", str(bb_rootfs),
               "sleep", "600").returncode == 0  # fmt: skip
    for argv in (base, ["container", "exec", "-i", name, "wc", "-c"]):
        for source, expected in ((data, "300001"), (Path(os.devnull), "0")):
            with open(source, "rb") as stdin:
                proc = subprocess.run([*DEVENV, *argv], stdin=stdin, capture_output=True, text=True, env=env)
            assert (proc.returncode, proc.stdout.strip(), proc.stderr) == (0, expected, ""), argv


def test_run_returns_once_every_process_of_the_container_is_gone(cli: Cli, bb_rootfs: Path) -> None:
    # The exit code reaches the client before the kernel has torn the namespaces down, but only once the
    # container's init has killed and reaped what the command left running.
    script = "sleep 1234.5 & sleep 1234.6 & exit 4"
    proc = cli("container", "run", "--rm", "--network", "none", "--rootfs", str(bb_rootfs), "sh", "-c", script)
    assert proc.returncode == 4, proc.stderr
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2]
        except OSError:
            continue
        if argv[0].endswith(b"sleep") and argv[1:] in ([b"1234.5"], [b"1234.6"]):
            left.append(pid)
    assert left == []
