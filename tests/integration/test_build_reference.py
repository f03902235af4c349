"""The lockfile, `outdated` and `upgrade` against the reference CLI (devcontainers/cli) on the same config,
compared byte for byte. The features are published by the test to the local registry.

The reference talks plain HTTP only to a registry named ``localhost`` (``127.0.0.1`` would be asked over
HTTPS), so the features are referenced as ``localhost:PORT/...``; devenv treats every loopback name alike.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import ImageFixture
from tests.integration.build_helpers import publish_versions
from tests.support.registry import Registry

pytestmark = [
    pytest.mark.reference,
    pytest.mark.registry,
    pytest.mark.skipif(shutil.which("devcontainer") is None, reason="the reference CLI is not installed"),
]

TOOLS_INSTALL = """#!/bin/sh
set -e
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$PACKAGE" >/dev/null
"""


def run(argv: list[str], cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env={**os.environ}, cwd=cwd, timeout=timeout)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args}: {proc.stderr[-3000:]}"
    return proc.stdout


def namespace(registry: Registry) -> str:
    return f"localhost:{registry.port}/r{uuid.uuid4().hex[:8]}"


def publish_set(ns: str) -> dict[str, str]:
    """hello (several versions and moving tags), base, and withdep that depends on base."""
    digests = publish_versions(f"{ns}/hello", "hello", {"1.0.0": "1.0.0", "1.2.0": "1.2.0", "2.0.0": "2.0.0"})
    digests.update(publish_versions(f"{ns}/hello", "hello", {"1": "1.2.0", "2": "2.0.0", "latest": "2.0.0"}))
    publish_versions(f"{ns}/base", "base", {"1.0.0": "1.0.0", "1": "1.0.0"})
    publish_versions(f"{ns}/withdep", "withdep", {"0.3.1": "0.3.1", "0": "0.3.1"}, dependsOn={f"{ns}/base:1": {}})
    return digests


def workspace(root: Path, features: dict[str, object], image: str = "debian") -> Path:
    dc = root / ".devcontainer"
    (dc / "tools").mkdir(parents=True)
    (dc / "tools" / "devcontainer-feature.json").write_text(
        json.dumps({"id": "tools", "version": "0.1.0", "options": {"package": {"type": "string", "default": "tree"}}})
    )
    (dc / "tools" / "install.sh").write_text(TOOLS_INSTALL)
    (dc / "devcontainer.json").write_text(json.dumps({"image": image, "features": features}, indent=4))
    return root


def twin(tmp_path: Path, features: dict[str, object], image: str = "debian") -> tuple[Path, Path]:
    """The same project twice: one for the reference, one for devenv."""
    return workspace(tmp_path / "ref", features, image), workspace(tmp_path / "dev", features, image)


def lockfile(ws: Path) -> bytes:
    return (ws / ".devcontainer" / "devcontainer-lock.json").read_bytes()


def test_upgrade_and_outdated_equal_the_reference(tmp_path: Path, devenv_root: Path, registry: Registry) -> None:
    ns = namespace(registry)
    digests = publish_set(ns)
    features: dict[str, object] = {
        f"{ns}/withdep:0": {},
        f"{ns}/hello:1": {},
        f"{ns}/HELLO": {},  # upper case in the key: fetched lower-cased, recorded as written
        "./tools": {"package": "jq"},
        f"{ns}/hello@{digests['1.0.0']}": {},
        f"{ns}/missing:1": {},
    }
    ref_ws, dev_ws = twin(tmp_path, features)
    for cmd in (["outdated"], ["outdated", "--output-format", "json"]):
        expected = ok(run(["devcontainer", *cmd, "--workspace-folder", str(ref_ws)]))
        assert ok(run(["devenv", *cmd, "--workspace-folder", str(dev_ws)])) == expected

    del features[f"{ns}/missing:1"]  # upgrade (like build) fails on a feature that does not exist
    ref_ws, dev_ws = twin(tmp_path / "2", features)
    expected = ok(run(["devcontainer", "upgrade", "--dry-run", "--workspace-folder", str(ref_ws)]))
    assert ok(run(["devenv", "upgrade", "--dry-run", "--workspace-folder", str(dev_ws)])) == expected
    assert f"{ns}/base:1" in json.loads(expected)["features"]  # the dependency is locked too

    ok(run(["devcontainer", "upgrade", "--workspace-folder", str(ref_ws)]))
    ok(run(["devenv", "upgrade", "--workspace-folder", str(dev_ws)]))
    assert lockfile(dev_ws) == lockfile(ref_ws)

    # With a lockfile, `current` comes from it: both tools read it the same way.
    publish_versions(f"{ns}/hello", "hello", {"1.3.0": "1.3.0", "1": "1.3.0"})
    expected = ok(run(["devcontainer", "outdated", "--workspace-folder", str(ref_ws), "--output-format", "json"]))
    assert ok(run(["devenv", "outdated", "--workspace-folder", str(dev_ws), "--output-format", "json"])) == expected
    assert json.loads(expected)["features"][f"{ns}/hello:1"]["current"] == "1.2.0"

    # Re-targeting one feature rewrites the same key in devcontainer.json and the same lockfile.
    for tool, ws in (("devcontainer", ref_ws), ("devenv", dev_ws)):
        ok(run([tool, "upgrade", "--workspace-folder", str(ws), "--feature", f"{ns}/hello", "--target-version", "2"]))
    config = (dev_ws / ".devcontainer" / "devcontainer.json").read_bytes()
    assert config == (ref_ws / ".devcontainer" / "devcontainer.json").read_bytes() and b"/hello:2" in config
    assert lockfile(dev_ws) == lockfile(ref_ws)


@pytest.mark.docker
@pytest.mark.slow
def test_build_writes_the_lockfile_the_reference_writes(
    tmp_path: Path, devenv_root: Path, registry: Registry, debian_image: ImageFixture, docker_engine: None
) -> None:
    """`devcontainer build` (Docker) and `devenv build` of an image + local feature + OCI features."""
    ns = namespace(registry)
    publish_set(ns)
    base = debian_image.ref.replace("127.0.0.1", "localhost")
    features: dict[str, object] = {"./tools": {}, f"{ns}/hello:1": {}, f"{ns}/withdep:0": {}}
    ref_ws, dev_ws = twin(tmp_path, features, image=base)
    tag = f"devenv-lock-ref:{uuid.uuid4().hex[:8]}"
    try:
        out = ok(run(["devcontainer", "build", "--workspace-folder", str(ref_ws), "--image-name", tag], timeout=900))
        assert json.loads(out.strip().splitlines()[-1])["outcome"] == "success"
    finally:
        run(["docker", "image", "rm", "-f", tag])
    ok(run(["devenv", "build", "--workspace-folder", str(dev_ws), "--image-name", "devenv-lock-ref:1"], timeout=900))
    assert lockfile(dev_ws) == lockfile(ref_ws)
    lock = json.loads(lockfile(dev_ws))["features"]
    assert sorted(lock) == [f"{ns}/base:1", f"{ns}/hello:1", f"{ns}/withdep:0"]
    assert lock[f"{ns}/withdep:0"]["dependsOn"] == [f"{ns}/base:1"]
