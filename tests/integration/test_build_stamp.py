"""`devenv build` answers "nothing changed" from its build stamp, and never when something did change."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from devenv.store.store import Store
from tests.conftest import ImageFixture

pytestmark = [
    pytest.mark.registry,
    pytest.mark.slow,
]

UNCHANGED = "nothing changed since the last build"


def build(proj: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = ["devenv", "build", "--workspace-folder", str(proj), "--image-name", "local/stamp:1", *extra]
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ}, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"outcome": "success", "imageName": ["local/stamp:1"]}
    return proc


def settle() -> None:
    """Let the files' times fall outside the window in which a build does not trust them."""
    time.sleep(1.1)


def project(root: Path, base: str, greeting: str) -> Path:
    feature = root / ".devcontainer" / "hello"
    feature.mkdir(parents=True, exist_ok=True)
    (feature / "devcontainer-feature.json").write_text('{"id": "hello", "version": "1.0.0"}')
    (feature / "install.sh").write_text(f"#!/bin/sh\necho {greeting} > /hello.txt\n")
    config = {"image": base, "features": {"./hello": {}}, "containerEnv": {"WHO": "${localEnv:STAMP_WHO}"}}
    (root / ".devcontainer" / "devcontainer.json").write_text(json.dumps(config))
    return root


def hello(store: Store) -> str:
    image = store.image("local/stamp:1")
    for chain in reversed(store.ensure_snapshots(image)):
        path = store.snapshots.fs(chain) / "hello.txt"
        if path.exists():
            return path.read_text().strip()
    raise AssertionError("no /hello.txt in the image")


def stamped(proj: Path) -> None:
    """Settle, build once more (it records its inputs), and check the next build takes the shortcut."""
    settle()
    build(proj)
    assert UNCHANGED in build(proj).stderr


def test_stamp_shortcut_and_changes(
    tmp_path: Path, devenv_root: Path, busybox_image: ImageFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAMP_WHO", "ann")
    proj = project(tmp_path / "proj", busybox_image.ref, "one")
    assert UNCHANGED not in build(proj).stderr  # first build: real
    first = Store().image("local/stamp:1").id
    stamped(proj)
    assert Store().image("local/stamp:1").id == first

    # A local feature's script changes: a real build, and the image has the new content.
    project(proj, busybox_image.ref, "two")
    assert UNCHANGED not in build(proj).stderr
    assert hello(Store()) == "two"
    stamped(proj)

    # An environment variable the config reads changes: a real build with the new value.
    monkeypatch.setenv("STAMP_WHO", "bob")
    assert UNCHANGED not in build(proj).stderr
    assert "WHO=bob" in Store().image("local/stamp:1").config.to_dict()["config"]["Env"]
    stamped(proj)

    # The result's name was moved to another image: the stamp does not answer for it.
    Store().tag(busybox_image.ref, "local/stamp:1")
    assert UNCHANGED not in build(proj).stderr
    assert "WHO=bob" in Store().image("local/stamp:1").config.to_dict()["config"]["Env"]

    # Options that must do the work never take the shortcut.
    stamped(proj)
    for extra in (["--no-cache"], ["--explain"]):
        assert UNCHANGED not in build(proj, *extra).stderr
