"""Fixtures the workspace tests share."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import ImageFixture
from tests.integration.workspace_helpers import ensure_docker_bridge


@pytest.fixture(scope="module")
def base_image(docker_engine: None, debian_image: ImageFixture) -> str:
    """The Debian fixture image, pulled into the Docker engine from the local registry (so that both
    runtimes, and the reference CLI, start from the same image)."""
    ensure_docker_bridge()
    subprocess.run(["docker", "pull", "--quiet", debian_image.ref], check=True, capture_output=True)
    return debian_image.ref
