"""A real Docker engine for tests that need one: use the running dockerd, or start one."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path


def docker_ok() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0


def ensure_dockerd(log: Path) -> subprocess.Popen[bytes] | None:
    """Start dockerd if no engine answers. Returns the process we started (None when one was running)."""
    if docker_ok():
        return None
    if shutil.which("dockerd") is None:
        raise RuntimeError("dockerd is not installed (apt-get install docker.io)")
    with open(log, "ab") as out:  # the child keeps its own copy of the fd
        proc = subprocess.Popen(
            ["dockerd", "--host", "unix:///var/run/docker.sock"], stdout=out, stderr=out, start_new_session=True
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd exited early, see {log}")
        if docker_ok():
            return proc
        time.sleep(0.5)
    raise RuntimeError(f"dockerd did not become ready within 60 s, see {log}")
