"""Helpers for the workspace end-to-end tests: run the devenv CLI, write configs, inspect containers."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def result(self) -> dict[str, Any]:
        """The JSON result object: the last line of stdout."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert lines, f"no result on stdout; stderr:\n{self.stderr}"
        data: dict[str, Any] = json.loads(lines[-1])
        return data


class Devenv:
    """Runs ``python -m devenv`` (the tree's code) with an isolated data root and a chosen runtime."""

    def __init__(self, root: Path, runtime: str) -> None:
        self.root = root
        self.runtime = runtime

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DEVENV_ROOT": str(self.root),
            "DEVENV_RUNTIME": self.runtime,
            "PYTHONPATH": str(REPO),
        }

    def __call__(self, *args: str, cwd: Path | None = None, check: bool = True, timeout: float = 600) -> Run:
        proc = subprocess.run(
            [sys.executable, "-m", "devenv", *args],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=cwd,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        run = Run(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            pytest.fail(
                f"devenv {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return run

    def popen(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "devenv", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
        )

    def runtime_api(self) -> Any:
        """The same runtime, in this process (the test's DEVENV_ROOT is already in the environment)."""
        from devenv.workspace.backends import open_runtime

        return open_runtime(self.runtime)

    def container_ids(self, folder: Path) -> list[str]:
        """The containers labelled with this workspace folder, in the runtime."""
        return [c.id for c in self.runtime_api().list({"devcontainer.local_folder": str(folder)})]

    def container(self, container_id: str) -> Any:
        """The runtime's record of a container (None when it does not exist)."""
        from devenv.errors import ContainerNotFound

        try:
            return self.runtime_api().get(container_id)
        except ContainerNotFound:
            return None

    def remove_all(self, folder: Path) -> None:
        rt = self.runtime_api()
        for cid in self.container_ids(folder):
            with contextlib.suppress(Exception):  # best effort: a failed test may leave odd states
                rt.remove(cid, force=True, volumes=True)

    def up(self, folder: Path, *extra: str, check: bool = True) -> Run:
        return self("up", "--workspace-folder", str(folder), *extra, check=check)

    def exec(self, folder: Path, *argv: str, check: bool = True) -> Run:
        return self("exec", "--workspace-folder", str(folder), *argv, check=check)

    def sh(self, folder: Path, script: str) -> str:
        return self.exec(folder, "sh", "-c", script).stdout


def write_config(folder: Path, config: dict[str, Any], name: str = ".devcontainer/devcontainer.json") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2))
    return path


def docker_inspect(container_id: str) -> dict[str, Any] | None:
    proc = subprocess.run(["docker", "inspect", container_id], capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    data: dict[str, Any] = json.loads(proc.stdout)[0]
    return data


def docker_ids_with_label(key: str, value: str) -> list[str]:
    proc = subprocess.run(
        ["docker", "ps", "-a", "-q", "--no-trunc", "--filter", f"label={key}={value}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.split()


def remove_docker_containers(folder: Path) -> None:
    for cid in docker_ids_with_label("devcontainer.local_folder", str(folder)):
        subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True)


def snapshot_tree(folder: Path) -> dict[str, tuple[int, int, int, bytes]]:
    """Every file under ``folder``: (uid, gid, mode, content) — to prove nothing was deleted or chowned."""
    out: dict[str, tuple[int, int, int, bytes]] = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(folder))] = (st.st_uid, st.st_gid, st.st_mode, p.read_bytes() if p.is_file() else b"")
    return out


def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def folders(tmp_path: Path, *names: str) -> Iterator[Path]:
    for name in names:
        p = tmp_path / name
        p.mkdir(parents=True, exist_ok=True)
        yield p


def ensure_docker_bridge() -> None:
    """Put back the engine's default bridge when it vanished from the host.

    A second ``dockerd`` started with ``--bridge=none`` on this machine (a benchmark's private engine, say)
    deletes ``docker0``; the shared engine then cannot start any container until it is back. That is
    the machine's state, not devenv's behaviour, so the workspace tests repair it rather than fail.
    """
    if subprocess.run(["ip", "link", "show", "docker0"], capture_output=True).returncode == 0:
        return
    info = subprocess.run(
        [
            "docker",
            "network",
            "inspect",
            "bridge",
            "--format",
            "{{(index .IPAM.Config 0).Gateway}}|{{(index .IPAM.Config 0).Subnet}}",
        ],
        capture_output=True,
        text=True,
    )
    gateway, _, subnet = info.stdout.strip().partition("|")
    prefix = subnet.partition("/")[2] or "16"
    address = f"{gateway or '172.17.0.1'}/{prefix}"
    subprocess.run(["ip", "link", "add", "docker0", "type", "bridge"], capture_output=True)
    subprocess.run(["ip", "addr", "add", address, "dev", "docker0"], capture_output=True)
    subprocess.run(["ip", "link", "set", "docker0", "up"], capture_output=True)
