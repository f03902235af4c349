"""Helpers of the embedded runtime's integration tests (``test_runtime_*.py``); fixtures are in
:mod:`tests.integration.runtime_fixtures` (load it with ``pytest_plugins``)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from devenv.runtime.base import ContainerSpec, ExecIO, ExecSpec, MountSpec
from devenv.runtime.embedded.runtime import EmbeddedRuntime
from devenv.snapshots.base import Mount

DEVENV = [sys.executable, "-m", "devenv"]


def rootfs_spec(rootfs: Path, *command: str, **kw: object) -> ContainerSpec:
    """A spec running ``command`` on ``rootfs`` (a directory) without network unless given."""
    kw.setdefault("network", "none")
    return ContainerSpec(
        image=str(rootfs),
        command=command or ("sleep", "3600"),
        rootfs=(Mount("bind", str(rootfs), ("rbind", "ro")),),
        **kw,  # type: ignore[arg-type]
    )


def run_in(rt: EmbeddedRuntime, cid: str, *argv: str, user: str = "", workdir: str = "", env: tuple[str, ...] = (), stdin: bytes | None = None) -> tuple[int, str, str]:  # fmt: skip  # noqa: E501
    """exec ``argv`` in the container; (exit code, stdout, stderr)."""
    import io

    out, err = io.BytesIO(), io.BytesIO()
    spec = ExecSpec(argv=argv, user=user, workdir=workdir, env=env, interactive=stdin is not None)
    code = rt.exec(cid, spec, ExecIO(stdin=io.BytesIO(stdin) if stdin is not None else None, stdout=out, stderr=err))
    return code, out.getvalue().decode(), err.getvalue().decode()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def bind(source: Path, target: str, read_only: bool = False) -> MountSpec:
    return MountSpec("bind", target, str(source), read_only)


def host_processes(pattern: str) -> list[str]:
    """Command lines of host processes containing ``pattern``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if pattern in cmdline:
                found.append(f"{pid} {cmdline}")
    return found
