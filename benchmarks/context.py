"""What scenarios share: peers (Docker engine, devcontainers/cli), the local registry and base images,
an isolated devenv data root, and scratch space. Everything started here is stopped at the end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from benchmarks.harness import Series


class Context:
    def __init__(self, reps: int, peers: bool = True) -> None:
        self.reps = reps
        self.peers = peers
        self.scratch = Path(tempfile.mkdtemp(prefix="devenv-bench-"))
        self.devenv_root = self.scratch / "devenv-root"
        self.devenv_root.mkdir()
        self._registry: Any = None
        self._dockerd: subprocess.Popen[bytes] | None = None
        self._images: dict[str, str] = {}
        self._docker_ready = False

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Context:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._registry is not None:
            self._registry.stop()
        if self._dockerd is not None:
            self._dockerd.terminate()
            try:
                self._dockerd.wait(30)
            except subprocess.TimeoutExpired:
                self._dockerd.kill()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def empty_series(self) -> Series:
        return Series("devenv")

    # -- environment -----------------------------------------------------------------------------
    def devenv_env(self, **extra: str) -> dict[str, str]:
        """Environment for devenv commands: an isolated data root unless the scenario says otherwise."""
        return {**os.environ, "DEVENV_ROOT": str(self.devenv_root), **extra}

    def devenv_bin(self) -> str:
        """The installed console script (not a shell shim such as pyenv's, which would be timed too)."""
        beside = Path(sys.executable).parent / "devenv"
        if beside.exists():
            return str(beside)
        found = shutil.which("devenv")
        if found is None:
            raise RuntimeError("devenv is not installed: run scripts/install.sh")
        return found

    # -- peers -----------------------------------------------------------------------------------
    def docker(self) -> None:
        """Make sure a Docker engine runs (docker.io from apt; dockerd started if needed)."""
        if self._docker_ready:
            return
        if not self.peers:
            raise RuntimeError("peers disabled (--no-peers)")
        from tests.support.docker_engine import ensure_dockerd

        if shutil.which("dockerd") is None:
            subprocess.run(["apt-get", "install", "-y", "-q", "docker.io"], check=True, capture_output=True)
        self._dockerd = ensure_dockerd(self.scratch / "dockerd.log")
        self._docker_ready = True

    def devcontainer_cli(self) -> str:
        """The reference CLI (npm @devcontainers/cli), installed if missing."""
        if not self.peers:
            raise RuntimeError("peers disabled (--no-peers)")
        found = shutil.which("devcontainer")
        if found is None:
            subprocess.run(["npm", "install", "-g", "--silent", "@devcontainers/cli"], check=True, capture_output=True)
            found = shutil.which("devcontainer")
        if found is None:
            raise RuntimeError("could not install @devcontainers/cli with npm")
        return found

    def registry_host(self) -> str:
        if self._registry is None:
            from tests.support.registry import start_registry

            self._registry = start_registry(self.scratch / "registry")
        return str(self._registry.host)

    def image(self, name: str) -> str:
        """Push a test base image ("busybox" or "debian") to the local registry; returns its reference."""
        if name in self._images:
            return self._images[name]
        from tests.support import images

        host = self.registry_host()
        if name == "busybox":
            layout, _ = images.busybox_layout(self.scratch / "busybox")
            ref = f"{host}/busybox:latest"
            images.skopeo_push(layout, ref)
        elif name == "debian":
            layout = images.debian_layout(self.scratch / "debian")
            ref = f"{host}/debian:bookworm"
            images.skopeo_push(layout, ref, fmt="v2s2")
        else:
            raise ValueError(f"unknown test image {name!r}")
        self._images[name] = ref
        return ref
