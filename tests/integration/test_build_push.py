"""`devenv build --push`: the built image lands in the local registry; skopeo pulls it back intact."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from devenv.store.store import Store
from tests.conftest import ImageFixture
from tests.support.registry import Registry

pytestmark = [
    pytest.mark.registry,
    pytest.mark.slow,
]


def test_build_push_then_skopeo_pulls_it(
    tmp_path: Path, devenv_root: Path, registry: Registry, busybox_image: ImageFixture
) -> None:
    proj = tmp_path / "proj"
    (proj / ".devcontainer").mkdir(parents=True)
    (proj / ".devcontainer" / "Dockerfile").write_text(
        f'FROM {busybox_image.ref}\nRUN echo pushed > /pushed.txt\nENV MARK=pushed\nCMD ["sh"]\n'
    )
    (proj / ".devcontainer" / "devcontainer.json").write_text(json.dumps({"build": {"dockerfile": "Dockerfile"}}))
    names = [f"{registry.host}/push-{uuid.uuid4().hex[:8]}/app:{t}" for t in ("1", "latest")]
    proc = subprocess.run(
        [
            "devenv",
            "build",
            "--workspace-folder",
            str(proj),
            "--push",
            *(a for n in names for a in ("--image-name", n)),
        ],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"outcome": "success", "imageName": names}

    local = Store().image(names[0])
    for name in names:
        out = tmp_path / f"pulled-{name.rsplit(':', 1)[1]}"
        subprocess.run(
            ["skopeo", "copy", "--src-tls-verify=false", f"docker://{name}", f"oci:{out}:x"],
            check=True,
            capture_output=True,
            timeout=300,
        )
        index = json.loads((out / "index.json").read_text())
        manifest_digest = index["manifests"][0]["digest"]
        assert manifest_digest == local.digest  # the very manifest devenv built, byte for byte
        blobs = out / "blobs" / "sha256"
        manifest = json.loads((blobs / manifest_digest.split(":")[1]).read_bytes())
        config = json.loads((blobs / manifest["config"]["digest"].split(":")[1]).read_bytes())
        assert "MARK=pushed" in config["config"]["Env"] and config["config"]["Cmd"] == ["sh"]
        for layer in manifest["layers"]:  # every blob arrived and matches its digest
            data = (blobs / layer["digest"].split(":")[1]).read_bytes()
            assert "sha256:" + hashlib.sha256(data).hexdigest() == layer["digest"]
        with tarfile.open(blobs / manifest["layers"][-1]["digest"].split(":")[1]) as tar:
            member = tar.extractfile("pushed.txt")
            assert member is not None and member.read() == b"pushed\n"
