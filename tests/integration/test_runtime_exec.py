"""exec into a running container: users from the container's own passwd/group, env, working
directory, streams, exit codes and signals."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devenv.runtime.base import Container, ExecIO, ExecSpec
from devenv.runtime.embedded.exec import ExecFailed
from devenv.runtime.embedded.runtime import EmbeddedRuntime
from tests.integration.runtime_helpers import DEVENV, bind, rootfs_spec, run_in, wait_for

pytest_plugins = ("tests.integration.runtime_fixtures",)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    os.chmod(d, 0o777)
    return d


@pytest.fixture
def debian(rt: EmbeddedRuntime, debian_rootfs: Path, src: Path) -> Iterator[Container]:
    c = rt.create(rootfs_spec(debian_rootfs, "sleep", "infinity", mounts=(bind(src, "/workspace"),), env=("A=1",)))
    rt.start(c.id)
    code, _, err = run_in(
        rt, c.id, "bash", "-c", "groupadd -g 2000 devs && useradd -m -u 1500 -G devs vscode && groupadd -g 3000 other"
    )
    assert code == 0, err
    yield rt.get(c.id)


def test_exec_as_a_user_by_name_resolves_uid_gid_and_groups(rt: EmbeddedRuntime, debian: Container) -> None:
    code, out, _ = run_in(rt, debian.id, "id", user="vscode")
    assert code == 0
    assert out.strip() == "uid=1500(vscode) gid=1500(vscode) groups=1500(vscode),2000(devs)"


def test_exec_as_uid_gid_numbers_and_name_group(rt: EmbeddedRuntime, debian: Container) -> None:
    assert (
        run_in(rt, debian.id, "id", user="1500:3000")[1].strip()
        == "uid=1500(vscode) gid=3000(other) groups=3000(other)"
    )
    assert run_in(rt, debian.id, "id", "-u", user="4242")[1].strip() == "4242"  # no passwd entry: gid 0
    assert run_in(rt, debian.id, "id", "-g", user="4242")[1].strip() == "0"
    assert run_in(rt, debian.id, "id", "-gn", user="vscode:devs")[1].strip() == "devs"


def test_exec_as_an_unknown_user_fails_clearly(rt: EmbeddedRuntime, debian: Container) -> None:
    with pytest.raises(ExecFailed, match="unable to find user nobody-here") as err:
        run_in(rt, debian.id, "id", user="nobody-here")
    assert err.value.command_exit_code == 126


def test_files_created_on_the_bind_mount_belong_to_the_user_on_the_host(
    rt: EmbeddedRuntime, debian: Container, src: Path
) -> None:
    code, _, err = run_in(rt, debian.id, "bash", "-c", "echo hi > /workspace/made-by-vscode", user="vscode")
    assert code == 0, err
    st = (src / "made-by-vscode").stat()
    assert (st.st_uid, st.st_gid) == (1500, 1500)
    assert os.stat(src).st_uid == 0  # the source folder itself is never chowned


def test_home_env_and_workdir(rt: EmbeddedRuntime, debian: Container) -> None:
    code, out, _ = run_in(
        rt, debian.id, "bash", "-c", 'echo "$HOME|$A|$B|$(pwd)|$HOSTNAME"', user="vscode", env=("B=2",), workdir="/tmp"
    )
    assert code == 0
    assert out.strip() == f"/home/vscode|1|2|/tmp|{debian.id[:12]}"


def test_non_root_exec_holds_no_capabilities(rt: EmbeddedRuntime, debian: Container) -> None:
    out = run_in(rt, debian.id, "grep", "-E", "^Cap(Eff|Prm)", "/proc/self/status", user="vscode")[1]
    assert out.split() == ["CapPrm:", "0000000000000000", "CapEff:", "0000000000000000"]


def test_exit_codes_and_stream_separation(rt: EmbeddedRuntime, debian: Container) -> None:
    assert run_in(rt, debian.id, "bash", "-c", "echo out; echo err >&2; exit 7") == (7, "out\n", "err\n")
    assert run_in(rt, debian.id, "bash", "-c", "kill -TERM $$")[0] == 128 + signal.SIGTERM


def test_stdin_is_streamed(rt: EmbeddedRuntime, debian: Container) -> None:
    data = os.urandom(200_000)
    code, out, _ = run_in(rt, debian.id, "sha256sum", stdin=data)
    import hashlib

    assert code == 0 and out.split()[0] == hashlib.sha256(data).hexdigest()


def test_missing_program_and_working_directory(rt: EmbeddedRuntime, debian: Container) -> None:
    with pytest.raises(ExecFailed, match='"nope": executable file not found') as err:
        run_in(rt, debian.id, "nope")
    assert err.value.command_exit_code == 127
    with pytest.raises(ExecFailed, match="/no/dir"):
        run_in(rt, debian.id, "true", workdir="/no/dir")


def test_exec_joins_every_namespace_and_the_cgroup(rt: EmbeddedRuntime, debian: Container) -> None:
    script = "readlink /proc/self/ns/{mnt,pid,net,uts,ipc,cgroup}; cat /proc/self/cgroup"
    code, out, _ = run_in(rt, debian.id, "bash", "-c", script)
    assert code == 0
    lines = out.split("\n")
    init = debian.pid
    for i, name in enumerate(["mnt", "pid", "net", "uts", "ipc", "cgroup"]):
        assert lines[i] == os.readlink(f"/proc/{init}/ns/{name}")
    assert all(line.endswith(":/") for line in lines[6:] if line)  # the cgroup namespace's root: its own


def test_signals_reach_the_exec_process(debian: Container, devenv_root: Path) -> None:
    env = dict(os.environ, DEVENV_ROOT=str(devenv_root))
    proc = subprocess.Popen(
        [
            *DEVENV,
            "container",
            "exec",
            debian.id,
            "bash",
            "-c",
            "trap 'echo got-int; exit 42' INT; echo ready; sleep 60 & wait",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert "got-int" in out
    assert proc.returncode == 42


def test_exec_uses_the_callers_stdio_by_default(debian: Container, devenv_root: Path) -> None:
    env = dict(os.environ, DEVENV_ROOT=str(devenv_root))
    proc = subprocess.run(
        [*DEVENV, "container", "exec", "-i", debian.id, "tr", "a-z", "A-Z"],
        env=env,
        input="shout\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (proc.returncode, proc.stdout) == (0, "SHOUT\n")


def test_exec_into_a_stopped_container_is_an_error(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    from devenv.errors import ContainerError

    c = rt.create(rootfs_spec(bb_rootfs, "true"))
    rt.start(c.id)
    rt.wait(c.id)
    with pytest.raises(ContainerError, match="is not running"):
        rt.exec(c.id, ExecSpec(argv=("true",)), ExecIO(stdout=io.BytesIO()))


def test_background_process_does_not_hold_exec_open(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.create(rootfs_spec(bb_rootfs))
    rt.start(c.id)
    started = time.monotonic()
    code, out, _ = run_in(rt, c.id, "sh", "-c", "sleep 30 & echo started")
    assert (code, out) == (0, "started\n")
    assert time.monotonic() - started < 10
    wait_for(lambda: True)


def test_workspace_stream_gets_lines_in_the_order_written(rt: EmbeddedRuntime, debian: Container) -> None:
    """How devenv runs hooks and its set-up script: stdout and stderr come as lines, in the order the
    command wrote them (one pipe for both), partial writes joined, an unterminated last line included."""
    from devenv.workspace.incontainer import stream

    lines: list[bytes] = []
    script = "echo out1; echo err1 >&2; printf 'par'; sleep 0.1; printf 'tial\\n'; echo err2 >&2; printf last"
    code = stream(rt, debian.id, ["/bin/sh", "-c", script], lines.append)
    assert code == 0
    assert lines == [b"out1\n", b"err1\n", b"partial\n", b"err2\n", b"last"]
    assert stream(rt, debian.id, ["/bin/sh", "-c", "exit 3"], lines.append) == 3
