"""devenv build of an image + features config on the Debian fixture: a local feature that apt-installs
from the Debian mirror and an OCI feature the test publishes to the local registry."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from devenv.build.builder import BuildOptions, build
from devenv.store.artifacts import ArtifactLayer, push_artifact
from devenv.store.store import Store
from tests.conftest import ImageFixture

pytestmark = [
    pytest.mark.registry,
    pytest.mark.slow,
]

HELLO_JSON = {
    "id": "hello",
    "version": "1.2.0",
    "name": "Hello",
    "options": {"greeting": {"type": "string", "default": "hey"}},
    "containerEnv": {"HELLO_HOME": "/opt/hello", "PATH": "/opt/hello/bin:${PATH}"},
    "capAdd": ["SYS_PTRACE"],
}
HELLO_INSTALL = """#!/bin/sh
set -e
mkdir -p /opt/hello/bin
printf '#!/bin/sh\\necho "%s from $_REMOTE_USER ($_REMOTE_USER_HOME)"\\n' "$GREETING" > /opt/hello/bin/hello
chmod +x /opt/hello/bin/hello
"""


def publish_feature(ref: str, folder_files: dict[str, str], metadata: dict[str, object]) -> str:
    buf = io.BytesIO()
    # (gzip's header holds a time unless given one: the same files published twice, under two tags in
    # different seconds, must be the same blob, as a registry's publisher makes them)
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, text in folder_files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"./{name}")
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    desc = push_artifact(
        ref,
        [
            ArtifactLayer(
                data=buf.getvalue(), annotations={"org.opencontainers.image.title": "devcontainer-feature-hello.tgz"}
            )
        ],
        annotations={"dev.containers.metadata": json.dumps(metadata)},
    )
    return desc.digest


def project(root: Path, base: str, feature_ref: str, greeting: str) -> Path:
    dc = root / ".devcontainer"
    local = dc / "tools"
    local.mkdir(parents=True, exist_ok=True)
    (local / "devcontainer-feature.json").write_text(
        json.dumps(
            {
                "id": "tools",
                "version": "0.1.0",
                "options": {"package": {"type": "string", "default": "tree"}},
            }
        )
    )
    (local / "install.sh").write_text(
        '#!/bin/sh\nset -e\napt-get update -qq\napt-get install -y -qq --no-install-recommends "$PACKAGE" >/dev/null\n'
    )
    (dc / "devcontainer.json").write_text(
        json.dumps(
            {
                "image": base,
                "features": {"./tools": {}, feature_ref: {"greeting": greeting}},
                "containerEnv": {"PROJECT": "demo"},
                "remoteUser": "root",
            }
        )
    )
    return root


def image_files(store: Store, name: str) -> set[str]:
    image = store.image(name)
    out: set[str] = set()
    for chain in store.ensure_snapshots(image):
        fs = store.snapshots.fs(chain)
        out.update("/" + str(p.relative_to(fs)) for p in fs.rglob("*"))
    return out


def test_image_with_features(tmp_path: Path, devenv_root: Path, registry, debian_image: ImageFixture) -> None:  # type: ignore[no-untyped-def]
    ref = f"{registry.host}/features/hello"
    digest = publish_feature(
        f"{ref}:1.2.0", {"devcontainer-feature.json": json.dumps(HELLO_JSON), "install.sh": HELLO_INSTALL}, HELLO_JSON
    )
    publish_feature(
        f"{ref}:1", {"devcontainer-feature.json": json.dumps(HELLO_JSON), "install.sh": HELLO_INSTALL}, HELLO_JSON
    )
    proj = project(tmp_path / "proj", debian_image.ref, f"{ref}:1", "hi")
    first = build(BuildOptions(workspace_folder=str(proj), image_names=("local/feat:1",)))
    store = Store()
    image = store.image("local/feat:1")
    cfg = image.config.to_dict()["config"]
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["HELLO_HOME"] == "/opt/hello" and env["PROJECT"] == "demo"
    assert env["PATH"].startswith("/opt/hello/bin:/usr/local/sbin")  # ${PATH} expanded as Docker does
    assert cfg["User"] == "root"
    label = json.loads(cfg["Labels"]["devcontainer.metadata"])
    assert [e.get("id") for e in label] == ["./tools", f"{ref}:1", None]
    assert label[1]["capAdd"] == ["SYS_PTRACE"] and label[2] == {
        "containerEnv": {"PROJECT": "demo"},
        "remoteUser": "root",
    }
    files = image_files(store, "local/feat:1")
    assert "/usr/bin/tree" in files and "/opt/hello/bin/hello" in files
    assert "/tmp/dev-container-features/devcontainer-features.builtin.env" in files
    assert not any(f.startswith("/tmp/dev-container-features/tools_0") for f in files)  # removed after install
    hello = next(
        store.snapshots.fs(c) / "opt/hello/bin/hello"
        for c in store.ensure_snapshots(image)
        if (store.snapshots.fs(c) / "opt/hello/bin/hello").exists()
    )
    assert 'echo "hi from $_REMOTE_USER' in hello.read_text()

    lock = json.loads((proj / ".devcontainer/devcontainer-lock.json").read_text())
    assert lock == {
        "features": {f"{ref}:1": {"version": "1.2.0", "resolved": f"{ref}@{digest}".lower(), "integrity": digest}}
    }

    # Nothing changed: everything cached.
    again = build(BuildOptions(workspace_folder=str(proj), image_names=("local/feat:1",)))
    assert all(s.cached for s in again.steps) and again.image_id == first.image_id

    # One option changed: only that feature's layer (the last one) is rebuilt, and explain says why.
    project(proj, debian_image.ref, f"{ref}:1", "howdy")
    third = build(BuildOptions(workspace_folder=str(proj), image_names=("local/feat:1",)))
    rebuilt = [s for s in third.steps if not s.cached]
    assert [s.id for s in rebuilt] == [f"feature:{ref}:1"]
    assert rebuilt[0].reason is not None and "option greeting" in rebuilt[0].reason.text()
