"""The bundled example workspace (examples/hello-web), brought up as the README's quick start does:
a local feature apt-installs Python from the Debian mirror, the app starts in postStartCommand and answers
on a forwarded port on 127.0.0.1. The base image `debian:bookworm` comes from the Debian fixture (the
quick start builds it with `devenv image bootstrap`, tested in test_image_bootstrap.py)."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ImageFixture
from tests.integration.workspace_helpers import REPO, Devenv

pytestmark = [pytest.mark.slow, pytest.mark.registry]


@pytest.fixture
def example(tmp_path: Path, devenv_root: Path, debian_image: ImageFixture) -> Iterator[tuple[Devenv, Path]]:
    devenv = Devenv(devenv_root, "embedded")
    devenv("image", "pull", debian_image.ref)
    devenv("image", "tag", debian_image.ref, "debian:bookworm")
    folder = tmp_path / "hello-web"
    shutil.copytree(REPO / "examples" / "hello-web", folder)
    yield devenv, folder
    devenv("down", "--workspace-folder", str(folder), check=False)


def get(url: str, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_example_comes_up_and_serves_on_the_forwarded_port(example: tuple[Devenv, Path]) -> None:
    devenv, folder = example
    before = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    result = devenv.up(folder).result()
    assert result["outcome"] == "success"
    assert result["remoteWorkspaceFolder"] == "/workspaces/hello-web"

    # The feature installed Python; the postCreateCommand ran once; the containerEnv reached the shell.
    out = devenv.sh(folder, "python3 --version; cat /tmp/python-version; echo $APP_ENV $PYTHONUNBUFFERED")
    version, recorded, env = out.strip().splitlines()
    assert version.startswith("Python 3.") and recorded == version
    assert env == "development 1"

    ports = json.loads(devenv("ports", "--workspace-folder", str(folder), "--json").stdout)["ports"]
    web = [p for p in ports if p["containerPort"] == 8000]
    assert web and web[0]["label"] == "web app", ports
    assert web[0]["hostIp"] == "127.0.0.1"
    body = get(f"http://127.0.0.1:{web[0]['hostPort']}/", time.monotonic() + 30)
    assert body == "hello from the devenv example workspace\n"

    devenv("down", "--workspace-folder", str(folder))
    after = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    assert after == before  # down never touches the source folder
