"""devenv build of a Dockerfile config on the Debian fixture: layers, cache, explain, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devenv.build.builder import BuildOptions, build
from devenv.errors import BuildError
from devenv.events import RecordingReporter
from devenv.store.store import Store
from tests.conftest import ImageFixture

pytestmark = [
    pytest.mark.registry,
    pytest.mark.slow,
]


def write_project(root: Path, base: str, run: str = "echo built > /built.txt") -> Path:
    dc = root / ".devcontainer"
    dc.mkdir(parents=True, exist_ok=True)
    (root / "app").mkdir(exist_ok=True)
    (root / "app/main.py").write_text("print('hi')\n")
    (root / "app/secret.key").write_text("nope\n")
    (root / ".dockerignore").write_text("**/*.key\n")
    (dc / "Dockerfile").write_text(
        f"ARG BASE={base}\nFROM $BASE\nARG GREETING=hello\nENV GREETING=$GREETING\n"
        f"RUN {run}\nWORKDIR /work\nCOPY app/ ./app/\nUSER 1000:1000\nLABEL com.example=yes\n"
    )
    (dc / "devcontainer.json").write_text(
        json.dumps({"build": {"dockerfile": "Dockerfile", "context": "..", "args": {"GREETING": "hi"}}})
    )
    return root


def rootfs_files(store: Store, name: str) -> dict[str, Path]:
    image = store.image(name)
    files: dict[str, Path] = {}
    for chain in store.ensure_snapshots(image):
        fs = store.snapshots.fs(chain)
        for p in fs.rglob("*"):
            files["/" + str(p.relative_to(fs))] = p
    return files


def test_dockerfile_build_cache_and_explain(tmp_path: Path, devenv_root: Path, debian_image: ImageFixture) -> None:
    project = write_project(tmp_path / "proj", debian_image.ref)
    rep = RecordingReporter()
    result = build(BuildOptions(workspace_folder=str(project), image_names=("local/df:1",)), reporter=rep)
    assert result.to_json() == {"outcome": "success", "imageName": ["local/df:1"]}
    store = Store()
    image = store.image("local/df:1")
    cfg = image.config.to_dict()["config"]
    assert "GREETING=hi" in cfg["Env"] and cfg["User"] == "1000:1000" and cfg["WorkingDir"] == "/work"
    assert cfg["Labels"]["com.example"] == "yes"
    files = rootfs_files(store, "local/df:1")
    assert files["/built.txt"].read_text() == "built\n"
    assert files["/work/app/main.py"].read_text() == "print('hi')\n"
    assert "/work/app/secret.key" not in files  # .dockerignore
    assert not any(s.cached for s in result.steps)

    again = build(BuildOptions(workspace_folder=str(project), image_names=("local/df:1",)))
    assert all(s.cached for s in again.steps)
    assert again.image_id == result.image_id

    (project / "app/main.py").write_text("print('changed')\n")
    third = build(BuildOptions(workspace_folder=str(project), image_names=("local/df:1",)))
    state = {s.description.split()[0]: s for s in third.steps}
    assert state["RUN"].cached and state["WORKDIR"].cached
    copy = state["COPY"]
    assert not copy.cached and copy.reason is not None and "file app/main.py" in copy.reason.text()


def test_failed_run_reports_and_caches_nothing(tmp_path: Path, devenv_root: Path, debian_image: ImageFixture) -> None:
    project = write_project(tmp_path / "proj", debian_image.ref, run="echo about to fail; exit 3")
    with pytest.raises(BuildError) as info:
        build(BuildOptions(workspace_folder=str(project), image_names=("local/fail:1",)))
    err = info.value
    assert "exit code 3" in err.message and "Dockerfile:5" in err.message
    assert "about to fail" in (err.detail or "")
    cache = list((devenv_root / "build" / "cache").glob("*.json"))
    assert cache == []  # the failed RUN (and nothing after it) was recorded


def test_run_reaches_the_debian_mirror(tmp_path: Path, devenv_root: Path, debian_image: ImageFixture) -> None:
    project = write_project(
        tmp_path / "proj",
        debian_image.ref,
        run="apt-get update -qq && apt-get install -y -qq --no-install-recommends jq >/dev/null && jq --version",
    )
    build(BuildOptions(workspace_folder=str(project), image_names=("local/apt:1",)))
    files = rootfs_files(Store(), "local/apt:1")
    assert "/usr/bin/jq" in files
