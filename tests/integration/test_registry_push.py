"""Pushing to a real registry and reading back with an independent tool (skopeo)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from devenv.events import RecordingReporter
from devenv.oci import mediatypes as mt
from devenv.oci.descriptor import Descriptor
from devenv.snapshots.diff import FileEntry
from devenv.store.artifacts import ArtifactLayer, fetch_artifact, list_tags, push_artifact, resolve_digest
from devenv.store.commit import ConfigChanges, commit_image, layer_from_files
from devenv.store.pull import PullOptions, pull
from devenv.store.push import PushOptions, push
from devenv.store.store import Store
from tests.conftest import ImageFixture
from tests.support.registry import Registry

pytestmark = pytest.mark.registry


def skopeo(*args: str) -> str:
    return subprocess.run(["skopeo", *args], check=True, capture_output=True, text=True).stdout


def test_push_a_new_image_and_pull_it_with_skopeo(
    devenv_root: Path, registry: Registry, busybox_image: ImageFixture, tmp_path: Path
) -> None:
    base = pull(PullOptions(busybox_image.ref))
    store = Store()
    layer = layer_from_files(
        store,
        [
            FileEntry("/srv", kind="dir", mode=0o755),
            FileEntry("/srv/hello.txt", data=b"hello from devenv\n", mode=0o640),
        ],
        base.chain_ids[-1],
    )
    image = commit_image(
        store,
        base,
        [layer],
        changes=ConfigChanges(env={"GREETING": "hi"}, labels={"made-by": "devenv"}),
        name="local/app:1",
    )
    dest = f"{registry.host}/pushed/app-{uuid.uuid4().hex[:8]}:v1"
    rec = RecordingReporter()
    desc = push(PushOptions("local/app:1", dest), reporter=rec)
    assert desc.digest == image.digest
    statuses = {f["digest"]: f["status"] for k, f in rec.events if k == "push.blob"}
    assert statuses[layer.descriptor.digest] == "pushed"
    assert statuses[base.layers[0].digest] in ("pushed", "exists", "mounted")

    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{dest}"))
    assert info["Digest"] == image.digest
    assert info["Labels"] == {"made-by": "devenv"} and "GREETING=hi" in info["Env"]
    out = tmp_path / "copy"
    skopeo("copy", "--quiet", "--src-tls-verify=false", f"docker://{dest}", f"dir:{out}")
    layer_file = out / layer.descriptor.digest[7:]
    with tarfile.open(layer_file) as tar:
        member = tar.getmember("srv/hello.txt")
        assert member.mode == 0o640
        f = tar.extractfile(member)
        assert f is not None and f.read() == b"hello from devenv\n"


def test_chunked_upload_and_cross_repository_mount(
    devenv_root: Path, registry: Registry, busybox_image: ImageFixture
) -> None:
    pull(PullOptions(busybox_image.ref))
    store = Store()
    big = os.urandom(3 << 20)  # incompressible: the layer blob is > 3 MiB
    layer = layer_from_files(store, [FileEntry("/big.bin", data=big)])
    commit_image(store, None, [layer], name=f"{registry.host}/chunked/src:1")
    src = f"{registry.host}/chunked/src:1"
    rec = RecordingReporter()
    push(PushOptions(src, chunk_size=256 * 1024), reporter=rec)
    assert [f["status"] for k, f in rec.events if k == "push.blob"].count("pushed") == 2
    chunks = [f for k, f in rec.events if k == "push.progress" and f["digest"] == layer.descriptor.digest]
    assert len(chunks) == -(-layer.descriptor.size // (256 * 1024))  # one PATCH per 256 KiB
    assert chunks[-1]["current"] == layer.descriptor.size
    assert (
        json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{src}"))["layers"][0]["size"]
        > 256 * 1024
    )

    rec = RecordingReporter()
    other = f"{registry.host}/chunked/other-{uuid.uuid4().hex[:6]}:1"
    push(PushOptions(src, other), reporter=rec)
    statuses = [f["status"] for k, f in rec.events if k == "push.blob"]
    assert "mounted" in statuses or statuses == ["exists", "exists"]
    assert "pushed" not in statuses
    assert skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{other}")


def _feature_tarball() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in {
            "devcontainer-feature.json": json.dumps({"id": "hello", "version": "1.0.0"}).encode(),
            "install.sh": b"#!/bin/sh\necho hello > /usr/local/hello\n",
        }.items():
            ti = tarfile.TarInfo(f"./{name}")
            ti.size = len(data)
            ti.mode = 0o755
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_publish_and_fetch_a_devcontainer_feature(devenv_root: Path, registry: Registry, tmp_path: Path) -> None:
    tarball = tmp_path / "devcontainer-feature-hello.tgz"
    tarball.write_bytes(_feature_tarball())
    metadata = json.dumps({"id": "hello", "version": "1.0.0"})
    repo = f"{registry.host}/features-{uuid.uuid4().hex[:6]}/hello"
    desc = push_artifact(
        f"{repo}:1.0.0",
        [
            ArtifactLayer(
                mt.DEVCONTAINERS_LAYER, path=tarball, annotations={"org.opencontainers.image.title": tarball.name}
            )
        ],
        annotations={"dev.containers.metadata": metadata},
    )
    for tag in ("1", "latest"):
        push_artifact(
            f"{repo}:{tag}",
            [
                ArtifactLayer(
                    mt.DEVCONTAINERS_LAYER, path=tarball, annotations={"org.opencontainers.image.title": tarball.name}
                )
            ],
            annotations={"dev.containers.metadata": metadata},
        )
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{repo}:1.0.0"))
    assert raw["config"]["mediaType"] == mt.DEVCONTAINERS_CONFIG
    assert raw["layers"][0]["mediaType"] == mt.DEVCONTAINERS_LAYER
    assert raw["annotations"]["dev.containers.metadata"] == metadata
    assert sorted(list_tags(repo)) == ["1", "1.0.0", "latest"]
    assert resolve_digest(f"{repo}:1") == Descriptor(mt.OCI_MANIFEST, desc.digest, desc.size)

    other_root = tmp_path / "fresh-store"
    store = Store(other_root)
    art = fetch_artifact(f"{repo}@{desc.digest}", store=store)
    assert art.descriptor.digest == desc.digest
    assert art.annotations["dev.containers.metadata"] == metadata
    assert art.manifest.layers[0].annotations["org.opencontainers.image.title"] == tarball.name
    assert art.layer_paths[0].read_bytes() == tarball.read_bytes()
    assert art.config == b"{}"
