"""Fixtures of the embedded runtime's integration tests, loaded by ``pytest_plugins`` in each module:
``rt`` (an EmbeddedRuntime on the test's own data root; every container it made is removed at the end),
``bb_rootfs`` (the busybox fixture's rootfs dir), ``debian_rootfs`` (Debian minbase, extracted once per
session), ``cli`` (runs the real ``devenv`` command on the same data root).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devenv.runtime.embedded.runtime import EmbeddedRuntime
from tests.integration.runtime_helpers import DEVENV
from tests.support import images


@pytest.fixture
def rt(devenv_root: Path) -> Iterator[EmbeddedRuntime]:
    runtime = EmbeddedRuntime(devenv_root)
    yield runtime
    for c in runtime.list(all=True):
        with contextlib.suppress(Exception):
            runtime.remove(c.id, force=True, volumes=True)


@pytest.fixture
def bb_rootfs(busybox_layout: tuple[images.OCILayout, Path]) -> Path:
    return busybox_layout[1]


@pytest.fixture(scope="session")
def debian_rootfs(session_dir: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("extracting the Debian rootfs needs root")
    dest = session_dir / "debian-rootfs"
    if not dest.exists():
        tmp = session_dir / "debian-rootfs.tmp"
        tmp.mkdir()
        subprocess.run(["tar", "-xpf", str(images.debian_rootfs_tar()), "-C", str(tmp), "--numeric-owner"], check=True)
        tmp.rename(dest)
    return dest


@pytest.fixture
def cli(devenv_root: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """Run ``devenv`` on the test's data root; the containers it leaves are removed at the end."""

    def run(
        *args: str, check: bool = False, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, DEVENV_ROOT=str(devenv_root))
        proc = subprocess.run([*DEVENV, *args], capture_output=True, text=True, env=env, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"devenv {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    yield run
    runtime = EmbeddedRuntime(devenv_root)
    for c in runtime.list(all=True):
        with contextlib.suppress(Exception):
            runtime.remove(c.id, force=True, volumes=True)
