"""End-to-end: the other workspace commands — shell (a real terminal), stop's shutdownAction, down --volumes,
logs, run-user-commands and set-up — on both runtimes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.workspace_helpers import REPO, Devenv, ensure_docker_bridge, lines, write_config

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(params=["embedded", "docker"])
def devenv(request: pytest.FixtureRequest, devenv_root: Path, base_image: str) -> Devenv:
    ensure_docker_bridge()
    return Devenv(devenv_root, str(request.param))


@pytest.fixture
def folder(tmp_path: Path, devenv: Devenv) -> Iterator[Path]:
    made = tmp_path / "work"
    made.mkdir()
    yield made
    devenv.remove_all(made)


def test_shell_is_an_interactive_login_shell_of_the_remote_user(devenv: Devenv, folder: Path, base_image: str) -> None:
    import pexpect

    (folder / ".devcontainer").mkdir()
    (folder / ".devcontainer/Dockerfile").write_text(f"FROM {base_image}\nRUN useradd -m -s /bin/bash dev\n")
    write_config(folder, {"build": {"dockerfile": "Dockerfile"}, "remoteUser": "dev", "updateRemoteUserUID": False})
    devenv.up(folder)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "devenv", "shell", "--workspace-folder", str(folder)],
        env=devenv.env(),
        cwd=str(REPO),
        timeout=60,
        encoding="utf-8",
    )
    try:
        child.sendline('echo "user=$(id -un) dir=$(pwd) tty=$(tty) login=$(shopt -q login_shell && echo yes) $0"')
        # argv[0] is "-bash", as login(1) and sshd start a login shell
        child.expect(r"user=dev dir=/workspaces/work tty=/dev/pts/\d+ login=yes -bash\r")
        child.sendline("exit 3")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 3


def test_exec_gets_a_terminal_only_when_it_has_one(devenv: Devenv, folder: Path, base_image: str) -> None:
    import pexpect

    write_config(folder, {"image": base_image})
    devenv.up(folder)
    assert devenv.exec(folder, "sh", "-c", "test -t 0 && echo tty || echo no-tty").stdout.strip() == "no-tty"
    out = pexpect.run(
        f"{sys.executable} -m devenv exec --workspace-folder {folder} sh -c 'test -t 0 && echo tty || echo no-tty'",
        env=devenv.env(),
        encoding="utf-8",
        timeout=60,
    )
    assert "tty" in out and "no-tty" not in out
    piped = subprocess.run(
        [sys.executable, "-m", "devenv", "exec", "--workspace-folder", str(folder), "wc", "-c"],
        input=b"12345",
        capture_output=True,
        env=devenv.env(),
    )
    assert piped.stdout.strip() == b"5"
    # A regular file or /dev/null as stdin (which epoll cannot watch) is read as well.
    (folder / "input.txt").write_bytes(b"y" * 200_000)
    for source, expected in ((folder / "input.txt", b"200000"), (Path(os.devnull), b"0")):
        with open(source, "rb") as stdin:
            proc = subprocess.run(
                [sys.executable, "-m", "devenv", "exec", "--workspace-folder", str(folder), "wc", "-c"],
                stdin=stdin,
                capture_output=True,
                env=devenv.env(),
            )
        assert (proc.returncode, proc.stdout.strip()) == (0, expected), proc.stderr


def test_stop_honours_shutdown_action_none(devenv: Devenv, folder: Path, base_image: str) -> None:
    write_config(folder, {"image": base_image, "shutdownAction": "none"})
    cid = devenv.up(folder).result()["containerId"]
    kept = devenv("stop", "--workspace-folder", str(folder))
    assert 'shutdownAction is "none"' in kept.stdout
    assert devenv.container(cid).status.value == "running"
    devenv("stop", "--workspace-folder", str(folder), "--force")
    assert devenv.container(cid).status.value == "stopped"


def test_down_volumes_removes_anonymous_volumes_only(devenv: Devenv, folder: Path, base_image: str) -> None:
    write_config(folder, {"image": base_image, "mounts": [{"type": "volume", "target": "/scratch"}]})
    devenv.up(folder)
    devenv.exec(folder, "sh", "-c", "echo data > /scratch/file")
    (folder / "keep.txt").write_text("mine")
    result = json.loads(devenv("--log-format", "json", "down", "--workspace-folder", str(folder), "--volumes").stdout)
    assert result["removed"] is True
    assert (folder / "keep.txt").read_text() == "mine"
    assert devenv.container_ids(folder) == []


def test_logs_show_the_main_process_output(devenv: Devenv, folder: Path, base_image: str) -> None:
    write_config(folder, {"image": base_image})
    devenv.up(folder)
    assert "Container started" in devenv("logs", "--workspace-folder", str(folder)).stdout


def test_run_user_commands(devenv: Devenv, folder: Path, base_image: str) -> None:
    log = "/workspaces/work/hooks.log"
    write_config(
        folder,
        {
            "image": base_image,
            "postCreateCommand": f"echo postCreate >> {log}",
            "postAttachCommand": f"echo attach >> {log}",
        },
    )
    devenv.up(folder, "--skip-post-create")
    assert lines(folder / "hooks.log") == []
    result = devenv("run-user-commands", "--workspace-folder", str(folder)).result()
    assert result == {"outcome": "success", "result": "done"}
    assert lines(folder / "hooks.log") == ["postCreate", "attach"]
    devenv("run-user-commands", "--workspace-folder", str(folder), "--skip-post-attach")
    assert lines(folder / "hooks.log") == ["postCreate", "attach"]


def test_set_up_an_existing_container(devenv: Devenv, tmp_path: Path, base_image: str) -> None:
    if devenv.runtime == "docker":
        cid = subprocess.run(
            ["docker", "run", "-d", base_image, "sleep", "infinity"], check=True, capture_output=True, text=True
        ).stdout.strip()
    else:
        cid = subprocess.run(
            [sys.executable, "-m", "devenv", "container", "run", "-d", base_image, "sleep", "infinity"],
            check=True,
            capture_output=True,
            text=True,
            env=devenv.env(),
        ).stdout.strip()
    try:
        config = write_config(
            tmp_path / "cfg",
            {
                "image": base_image,
                "postCreateCommand": "echo set-up-ran > /tmp/marker",
                "remoteEnv": {"FROM_SETUP": "yes"},
            },
            name="devcontainer.json",
        )
        result = devenv("set-up", "--container-id", cid, "--config", str(config)).result()
        assert result["outcome"] == "success" and result["remoteUser"] == "root"
        check = ["sh", "-c", "cat /tmp/marker"]
        if devenv.runtime == "docker":
            out = subprocess.run(["docker", "exec", cid, *check], capture_output=True, text=True).stdout
        else:
            out = subprocess.run(
                [sys.executable, "-m", "devenv", "container", "exec", cid, *check],
                capture_output=True,
                text=True,
                env=devenv.env(),
            ).stdout
        assert out.strip() == "set-up-ran"
    finally:
        devenv.runtime_api().remove(cid, force=True)
    assert os.path.exists(config)
