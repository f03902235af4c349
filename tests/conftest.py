"""Shared pytest fixtures: real registries, real base images, a real Docker engine, isolated data roots.

Markers are applied by directory as well: tests under ``tests/unit`` are ``unit``, tests under
``tests/integration`` are ``integration`` (they need root and skip with the reason when not root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import images
from tests.support.docker_engine import ensure_dockerd
from tests.support.registry import Registry, make_self_signed_cert, start_registry
from tests.support.token_server import TokenServer

IS_ROOT = os.geteuid() == 0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "unit" in parts:
            item.add_marker(pytest.mark.unit)
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        if item.get_closest_marker("integration") and not IS_ROOT:
            item.add_marker(pytest.mark.skip(reason="integration tests need root (namespaces, mounts)"))


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("devenv-session")


@pytest.fixture(scope="session")
def registry(session_dir: Path) -> Iterator[Registry]:
    """A plain-HTTP registry without auth on 127.0.0.1."""
    reg = start_registry(session_dir / "registry-plain")
    yield reg
    reg.stop()


@dataclass
class AuthRegistry:
    registry: Registry
    username: str
    password: str
    cert_dir: Path  # holds ca.crt: for skopeo --cert-dir and for devenv's CA configuration

    @property
    def host(self) -> str:
        return self.registry.host


@pytest.fixture(scope="session")
def auth_registry(session_dir: Path) -> Iterator[AuthRegistry]:
    """An HTTPS registry (self-signed certificate) with htpasswd basic auth."""
    work = session_dir / "registry-auth"
    tls = make_self_signed_cert(work / "tls")
    cert_dir = work / "certs.d"
    cert_dir.mkdir(parents=True)
    shutil.copy(tls.cert, cert_dir / "ca.crt")
    reg = start_registry(work, tls=tls, users={"devenv": "s3cret-pass"})
    yield AuthRegistry(reg, "devenv", "s3cret-pass", cert_dir)
    reg.stop()


@dataclass
class TokenRegistry:
    """A registry with ``auth: token`` and the token server it trusts (the Docker Hub / GHCR flow)."""

    registry: Registry
    tokens: TokenServer
    username: str
    password: str

    @property
    def host(self) -> str:
        return self.registry.host


@pytest.fixture(scope="session")
def token_registry(session_dir: Path) -> Iterator[TokenRegistry]:
    """Plain-HTTP registry on 127.0.0.1 with Bearer token auth: anonymous pulls of ``public/*``,
    pull+push for ``devenv``/``t0ken-pass``. ``.tokens.requests`` records what clients asked for."""
    from tests.support.token_server import start_token_server

    work = session_dir / "registry-token"
    tokens = start_token_server(work, {"devenv": "t0ken-pass"})
    reg = start_registry(work, token=tokens.registry_config())
    yield TokenRegistry(reg, tokens, "devenv", "t0ken-pass")
    reg.stop()
    tokens.stop()


@dataclass
class ImageFixture:
    ref: str  # e.g. 127.0.0.1:PORT/busybox:latest
    layout: images.OCILayout
    rootfs: Path | None = None  # an unpacked copy when the fixture has one

    @property
    def repository(self) -> str:
        return self.ref.rsplit(":", 1)[0]


@pytest.fixture(scope="session")
def busybox_layout(session_dir: Path) -> tuple[images.OCILayout, Path]:
    if not IS_ROOT:
        pytest.skip("building the busybox rootfs needs root (file ownership)")
    return images.busybox_layout(session_dir / "busybox")


@pytest.fixture(scope="session")
def busybox_image(registry: Registry, busybox_layout: tuple[images.OCILayout, Path]) -> ImageFixture:
    """The busybox image pushed (OCI media types) to the plain registry."""
    layout, rootfs = busybox_layout
    ref = f"{registry.host}/busybox:latest"
    images.skopeo_push(layout, ref)
    return ImageFixture(ref, layout, rootfs)


@pytest.fixture(scope="session")
def debian_layout(session_dir: Path) -> images.OCILayout:
    if not IS_ROOT:
        pytest.skip("mmdebstrap needs root")
    return images.debian_layout(session_dir / "debian")


@pytest.fixture(scope="session")
def debian_image(registry: Registry, debian_layout: images.OCILayout) -> ImageFixture:
    """Debian bookworm minbase pushed (Docker v2 schema 2 media types) to the plain registry."""
    ref = f"{registry.host}/debian:bookworm"
    images.skopeo_push(debian_layout, ref, fmt="v2s2")
    return ImageFixture(ref, debian_layout)


@pytest.fixture(scope="session")
def docker_engine(session_dir: Path) -> Iterator[None]:
    """A running Docker engine (started here when none runs; stopped at the end if we started it)."""
    if not IS_ROOT:
        pytest.skip("starting dockerd needs root")
    try:
        proc = ensure_dockerd(session_dir / "dockerd.log")
    except RuntimeError as exc:
        pytest.skip(f"this machine cannot run a Docker engine: {exc}")
    yield
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def devenv_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated devenv data root (``DEVENV_ROOT``) for one test."""
    root = tmp_path / "devenv-root"
    root.mkdir()
    monkeypatch.setenv("DEVENV_ROOT", str(root))
    return root
