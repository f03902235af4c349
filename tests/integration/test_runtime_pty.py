"""Interactive terminals, driven through a real pty with pexpect: ``devenv container run -it`` and
``devenv container exec -it`` — prompt, commands, window size and resize, Ctrl-C, Ctrl-D, exit code."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pexpect
import pytest

from devenv.runtime.embedded.runtime import EmbeddedRuntime
from tests.integration.runtime_helpers import DEVENV, rootfs_spec

pytest_plugins = ("tests.integration.runtime_fixtures",)


def spawn(devenv_root: Path, *args: str, rows: int = 24, cols: int = 80) -> pexpect.spawn:
    env = dict(os.environ, DEVENV_ROOT=str(devenv_root), PS1="PROMPT# ", TERM="xterm")
    child = pexpect.spawn(DEVENV[0], [*DEVENV[1:], *args], env=env, timeout=20, dimensions=(rows, cols))
    return child


def test_run_it_drives_an_interactive_shell(devenv_root: Path, bb_rootfs: Path, rt: EmbeddedRuntime) -> None:
    child = spawn(
        devenv_root, "container", "run", "-it", "--rm", "--network", "none", "-e", "PS1=PROMPT# ",
        "--rootfs", str(bb_rootfs), "sh", rows=30, cols=100,
    )  # fmt: skip
    child.expect("PROMPT# ")
    child.sendline("tty; stty size; echo $((6*7))")
    child.expect(r"/dev/pts/0")  # a terminal of the container's own devpts
    child.expect("30 100")
    child.expect("42")
    child.expect("PROMPT# ")
    child.setwinsize(40, 132)
    child.sendline("stty size")
    child.expect("40 132")
    child.expect("PROMPT# ")
    child.sendline("sleep 100")
    child.expect("sleep 100\r\n")
    time.sleep(0.5)  # the shell hands the terminal to sleep (cooked mode) before the key is pressed
    child.sendcontrol("c")  # reaches sleep through the container's terminal, not the CLI
    child.expect("PROMPT# ")
    child.sendline("echo still-here")
    child.expect("still-here")
    child.expect("PROMPT# ")
    child.sendline("exit 5")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 5
    assert rt.list(all=True) == []  # --rm


def test_ctrl_d_ends_the_shell_with_exit_code_0(devenv_root: Path, bb_rootfs: Path) -> None:
    child = spawn(
        devenv_root, "container", "run", "-it", "--rm", "--network", "none", "-e", "PS1=PROMPT# ",
        "--rootfs", str(bb_rootfs), "sh",
    )  # fmt: skip
    child.expect("PROMPT# ")
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_exec_it_into_a_running_container(devenv_root: Path, bb_rootfs: Path, rt: EmbeddedRuntime) -> None:
    c = rt.create(rootfs_spec(bb_rootfs, env=("PS1=EXEC$ ",)))
    rt.start(c.id)
    child = spawn(devenv_root, "container", "exec", "-it", "-u", "dev", c.id, "sh", rows=33, cols=77)
    child.expect("EXEC\\$ ")
    child.sendline("id -u; stty size; tty")
    child.expect("1000")
    child.expect("33 77")
    child.expect("/dev/pts/")
    child.setwinsize(50, 90)
    child.sendline("stty size")
    child.expect("50 90")
    child.sendline("cat")  # Ctrl-C interrupts the foreground job in the container
    child.expect("cat\r\n")
    time.sleep(0.5)
    child.sendcontrol("c")
    child.expect("EXEC\\$ ")
    child.sendline("exit 3")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    assert rt.get(c.id).status.value == "running"  # the container goes on


@pytest.mark.parametrize("tty", [True, False])
def test_run_passes_the_exit_code(devenv_root: Path, bb_rootfs: Path, tty: bool) -> None:
    flags = ["-it"] if tty else ["-i"]
    child = spawn(
        devenv_root, "container", "run", *flags, "--rm", "--network", "none", "--rootfs", str(bb_rootfs),
        "sh", "-c", "read line; echo got:$line; exit 9",
    )  # fmt: skip
    child.sendline("abc")
    child.expect("got:abc")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 9
