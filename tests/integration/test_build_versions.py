"""`devenv outdated` and `devenv upgrade` against the local registry, where the test publishes several
versions and tags of a feature (the moving tags ``1``, ``1.1``, ``2``, ``latest`` as publishers do)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.integration.build_helpers import publish_versions
from tests.support.registry import Registry

pytestmark = [pytest.mark.registry]

VERSIONS = {"1.0.0": "1.0.0", "1.1.0": "1.1.0", "1.2.0": "1.2.0", "2.0.0": "2.0.0", "2.1.0-beta": "2.1.0-beta"}
MOVING = {"1": "1.2.0", "1.1": "1.1.0", "2": "2.0.0", "latest": "2.0.0"}


def info(current: str, wanted: str, latest: str) -> dict[str, str]:
    return {"current": current, "wanted": wanted, "wantedMajor": wanted[0], "latest": latest, "latestMajor": latest[0]}


def devenv(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["devenv", *args], capture_output=True, text=True, env={**os.environ}, cwd=cwd, timeout=120)


@pytest.fixture
def hello(registry: Registry, devenv_root: Path) -> tuple[str, dict[str, str]]:
    """A feature repository ``localhost:PORT/<unique>/hello`` with VERSIONS and MOVING tags; ``{tag: digest}``."""
    repo = f"localhost:{registry.port}/t{uuid.uuid4().hex[:8]}/hello"
    digests = publish_versions(repo, "hello", VERSIONS)
    digests.update(publish_versions(repo, "hello", MOVING))
    return repo, digests


def write_config(folder: Path, features: dict[str, object]) -> Path:
    dc = folder / ".devcontainer"
    (dc / "local").mkdir(parents=True, exist_ok=True)
    (dc / "local" / "devcontainer-feature.json").write_text('{"id": "local", "version": "0.0.1"}')
    (dc / "local" / "install.sh").write_text("#!/bin/sh\n")
    config = dc / "devcontainer.json"
    config.write_text("{\n  // features under test\n  " + json.dumps({"image": "x", "features": features})[1:] + "\n")
    return config


def test_outdated_lists_current_wanted_latest(tmp_path: Path, hello: tuple[str, dict[str, str]]) -> None:
    repo, digests = hello
    missing = repo.rsplit("/", 1)[0] + "/missing:1"
    pinned = f"{repo}@{digests['1.0.0']}"
    write_config(tmp_path, {f"{repo}:1": {}, f"{repo}:1.1": {}, "./local": {}, pinned: {}, missing: {}})

    proc = devenv("outdated", "--workspace-folder", str(tmp_path), "--output-format", "json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1  # compact, one line, when stdout is not a terminal
    assert json.loads(proc.stdout) == {
        "features": {
            f"{repo}:1": info("1.2.0", "1.2.0", "2.1.0-beta"),
            f"{repo}:1.1": info("1.1.0", "1.1.0", "2.1.0-beta"),
            pinned: info("1.0.0", "1.0.0", "2.1.0-beta"),
            missing: {},  # the repository does not exist: nothing known, as the reference prints it
        }
    }

    proc = devenv("outdated", "--workspace-folder", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    width = len(missing.rsplit(":", 1)[0])
    assert proc.stdout.splitlines() == [
        "Feature".ljust(width) + "  Current  Wanted  Latest",
        repo.ljust(width) + "  1.2.0    1.2.0   2.1.0-beta",
        repo.ljust(width) + "  1.1.0    1.1.0   2.1.0-beta",
        repo.ljust(width) + "  1.0.0    1.0.0   2.1.0-beta",
        missing.rsplit(":", 1)[0] + "  -        -       -",
    ]


def test_outdated_current_comes_from_the_lockfile(tmp_path: Path, hello: tuple[str, dict[str, str]]) -> None:
    repo, _ = hello
    write_config(tmp_path, {f"{repo}:1": {}, repo: {}})
    proc = devenv("upgrade", "--workspace-folder", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    # A new 1.x is published and the moving tag follows: the lockfile still says 1.2.0.
    publish_versions(repo, "hello", {"1.3.0": "1.3.0", "1": "1.3.0"})
    proc = devenv("outdated", "--workspace-folder", str(tmp_path), "--output-format", "json")
    assert json.loads(proc.stdout)["features"] == {
        f"{repo}:1": info("1.2.0", "1.3.0", "2.1.0-beta"),
        repo: info("2.0.0", "2.1.0-beta", "2.1.0-beta"),
    }


def test_upgrade_writes_the_lockfile_and_dry_run_prints_it(tmp_path: Path, hello: tuple[str, dict[str, str]]) -> None:
    repo, digests = hello
    config = write_config(tmp_path, {f"{repo}:1": {}, "./local": {}})
    lock_path = config.parent / "devcontainer-lock.json"
    expected = {
        "features": {f"{repo}:1": {"version": "1.2.0", "resolved": f"{repo}@{digests['1']}", "integrity": digests["1"]}}
    }
    proc = devenv("upgrade", "--workspace-folder", str(tmp_path), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected and proc.stdout == json.dumps(expected, indent=2) + "\n"
    assert not lock_path.exists()

    proc = devenv("upgrade", "--workspace-folder", str(tmp_path))
    assert proc.returncode == 0 and proc.stdout == ""
    assert lock_path.read_text() == json.dumps(expected, indent=2) + "\n"

    # The tag moves on: a build keeps the pinned digest, upgrade moves the lockfile to the new one.
    new = publish_versions(repo, "hello", {"1.3.0": "1.3.0", "1": "1.3.0"})
    assert devenv("upgrade", "--workspace-folder", str(tmp_path)).returncode == 0
    entry = json.loads(lock_path.read_text())["features"][f"{repo}:1"]
    assert entry == {"version": "1.3.0", "resolved": f"{repo}@{new['1']}", "integrity": new["1"]}


def test_upgrade_retargets_a_feature(tmp_path: Path, hello: tuple[str, dict[str, str]]) -> None:
    repo, digests = hello
    other = f"{repo}:1.1"
    config = write_config(tmp_path, {f"{repo}:1": {}, other: {}})
    proc = devenv("upgrade", "--workspace-folder", str(tmp_path), "--feature", repo, "--target-version", "2")
    assert proc.returncode == 0, proc.stderr
    text = config.read_text()
    assert f'"{repo}:2"' in text and f'"{other}"' in text and "// features under test" in text
    lock = json.loads((config.parent / "devcontainer-lock.json").read_text())
    assert lock["features"][f"{repo}:2"]["integrity"] == digests["2"] and f"{repo}:1" not in lock["features"]

    # A version that is not published: the error says so, the config and the lockfile are unchanged.
    before = (config.read_text(), (config.parent / "devcontainer-lock.json").read_text())
    proc = devenv("upgrade", "--workspace-folder", str(tmp_path), "-f", f"{repo}:2", "-v", "7")
    assert proc.returncode != 0 and f"{repo}:7" in proc.stderr
    assert (config.read_text(), (config.parent / "devcontainer-lock.json").read_text()) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--feature", "x"], "The '--target-version' and '--feature' flag must be used together."),
        (["-f", "x", "-v", "2.x"], "Invalid version '2.x'.  Must be in the form of 'x', 'x.y', or 'x.y.z'"),
    ],
)
def test_upgrade_option_errors(tmp_path: Path, args: list[str], message: str) -> None:
    write_config(tmp_path, {"./local": {}})
    proc = devenv("upgrade", "--workspace-folder", str(tmp_path), *args)
    assert proc.returncode == 2 and message in proc.stderr
