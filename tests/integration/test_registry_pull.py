"""Pulling from a real registry (docker-registry on 127.0.0.1): tags, digests, indexes, failures."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from devenv.errors import ImageError, ImageNotFound, RegistryError, StoreError
from devenv.events import RecordingReporter
from devenv.oci import mediatypes as mt
from devenv.oci.descriptor import Platform
from devenv.store.pull import PullOptions, pull
from devenv.store.store import Store
from tests.conftest import ImageFixture
from tests.integration.registry_tools import digest_of, put_blob, put_manifest, registry_blob_file, tree
from tests.support import images
from tests.support.registry import Registry

pytestmark = pytest.mark.registry


@pytest.mark.parametrize("unpacker", ["gnu-tar", "python"])
def test_pull_busybox_by_tag_unpacks_the_exact_rootfs(
    devenv_root: Path, busybox_image: ImageFixture, unpacker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if unpacker == "python":  # the path taken without root or without the tools
        from devenv.snapshots import tarunpack

        monkeypatch.setattr(tarunpack, "available", lambda compression: False)
    image = pull(PullOptions(busybox_image.ref))
    assert image.name == busybox_image.ref
    assert image.diff_ids == busybox_image.layout.layer_diff_ids
    assert image.config.cmd == ["/bin/sh"]
    assert image.descriptor.media_type == mt.OCI_MANIFEST
    store = Store()
    [mount] = store.layer_mounts(image)
    assert mount.type == "bind" and "ro" in mount.options
    assert busybox_image.rootfs is not None
    assert tree(Path(mount.source), with_content=True) == tree(busybox_image.rootfs, with_content=True)
    assert [i.name for i in store.images()] == [busybox_image.ref]


def test_pull_by_digest(devenv_root: Path, busybox_image: ImageFixture) -> None:
    digest = busybox_image.layout.manifest_digest
    ref = f"{busybox_image.repository}@{digest}"
    image = pull(PullOptions(ref))
    assert image.name == ref and image.digest == digest
    assert Store().image(ref).id == image.id
    missing = f"{busybox_image.repository}@sha256:{'0' * 64}"
    with pytest.raises(ImageNotFound) as info:
        pull(PullOptions(missing))
    assert "not found" in info.value.message
    assert [i.name for i in Store().images()] == [ref]


@pytest.mark.slow
def test_pull_debian_docker_media_types(devenv_root: Path, debian_image: ImageFixture) -> None:
    image = pull(PullOptions(debian_image.ref))
    assert image.descriptor.media_type == mt.DOCKER_MANIFEST
    assert image.layers[0].media_type == mt.DOCKER_LAYER_GZIP
    assert image.config.cmd == ["bash"]
    [mount] = Store().layer_mounts(image)
    assert (Path(mount.source) / "etc/debian_version").read_text().startswith("12.")
    assert os.stat(Path(mount.source) / "dev/null").st_rdev == os.makedev(1, 3)
    # The same image by digest (as skopeo converted it to Docker v2s2): a second name, nothing downloaded.
    rec = RecordingReporter()
    by_digest = pull(PullOptions(f"{debian_image.repository}@{image.digest}"), reporter=rec)
    assert by_digest.id == image.id and "pull.progress" not in rec.kinds()


def test_second_pull_transfers_nothing(devenv_root: Path, busybox_image: ImageFixture) -> None:
    pull(PullOptions(busybox_image.ref))
    rec = RecordingReporter()
    pull(PullOptions(busybox_image.ref), reporter=rec)
    statuses = [f["status"] for k, f in rec.events if k == "pull.layer"]
    assert statuses == ["exists"]
    assert "pull.progress" not in rec.kinds()


def test_unknown_tag_is_a_clear_error_and_stores_nothing(devenv_root: Path, registry: Registry) -> None:
    with pytest.raises(ImageNotFound) as info:
        pull(PullOptions(f"{registry.host}/busybox:no-such-tag"))
    assert "no-such-tag" in info.value.message and info.value.remedy
    assert Store().images() == []


def test_unreachable_registry_is_a_clear_error(devenv_root: Path) -> None:
    from tests.support.registry import free_port

    with pytest.raises(RegistryError) as info:
        pull(PullOptions(f"127.0.0.1:{free_port()}/x:1"))
    assert "cannot reach registry" in info.value.message


@pytest.fixture(scope="module")
def multiplatform(registry: Registry, busybox_image: ImageFixture) -> tuple[str, dict[str, str]]:
    """An OCI index with linux/amd64 (the busybox manifest) and linux/arm64/v8 (pushed by hand)."""
    repo = "multi/busybox"
    images.skopeo_push(busybox_image.layout, f"{registry.host}/{repo}:amd64")
    _, _, amd64 = registry.get(f"/v2/{repo}/manifests/amd64", accept=mt.OCI_MANIFEST)
    manifest = json.loads(amd64)
    config = json.loads(registry.get(f"/v2/{repo}/blobs/{manifest['config']['digest']}")[2])
    config.update({"architecture": "arm64", "variant": "v8"})
    config_bytes = json.dumps(config).encode()
    manifest["config"] = {
        "mediaType": mt.OCI_CONFIG,
        "digest": put_blob(registry, repo, config_bytes),
        "size": len(config_bytes),
    }
    arm_digest, arm_size = put_manifest(registry, repo, "arm64", manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": digest_of(amd64),
                "size": len(amd64),
                "platform": {"os": "linux", "architecture": "amd64"},
            },
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": arm_digest,
                "size": arm_size,
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
        ],
    }
    index_digest, _ = put_manifest(registry, repo, "multi", index)
    return f"{registry.host}/{repo}:multi", {"amd64": digest_of(amd64), "arm64": arm_digest, "index": index_digest}


def test_index_resolves_to_this_machines_platform(devenv_root: Path, multiplatform: tuple[str, dict[str, str]]) -> None:
    ref, digests = multiplatform
    image = pull(PullOptions(ref, Platform("linux", "amd64")))
    assert image.target.digest == digests["index"] and image.target.media_type == mt.OCI_INDEX
    assert image.digest == digests["amd64"]
    assert image.config.platform.architecture == "amd64"


def test_index_with_explicit_platform(devenv_root: Path, multiplatform: tuple[str, dict[str, str]]) -> None:
    ref, digests = multiplatform
    image = pull(PullOptions(ref, Platform.parse("linux/arm64")))
    assert image.digest == digests["arm64"]
    assert image.config.platform == Platform("linux", "arm64", "v8")
    by_digest = pull(PullOptions(f"{ref.rsplit(':', 1)[0]}@{digests['index']}", Platform.parse("linux/arm64/v8")))
    assert by_digest.digest == digests["arm64"]
    with pytest.raises(ImageError) as info:
        pull(PullOptions(ref, Platform.parse("linux/s390x")))
    assert "linux/arm64/v8" in info.value.message and "--platform" in (info.value.remedy or "")


def _layer_image(reg: Registry, repo: str, tar_bytes: bytes, tmp: Path) -> str:
    layout = images.write_oci_layout(tmp / uuid.uuid4().hex, [tar_bytes])
    ref = f"{reg.host}/{repo}:latest"
    images.skopeo_push(layout, ref)
    return ref


def _no_trace(store: Store) -> None:
    assert store.images() == []
    assert list(store.blobs.ingest_dir.glob("*.partial")) == []
    assert store.snapshots.chain_ids() == []


def test_corrupted_blob_fails_the_pull_and_stores_nothing(
    devenv_root: Path, registry: Registry, tmp_path: Path
) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = os.urandom(200_000)
        ti = tarfile.TarInfo("payload")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    ref = _layer_image(registry, f"corrupt-{uuid.uuid4().hex[:8]}", buf.getvalue(), tmp_path)
    layer_digest = digest_of(gzip.compress(buf.getvalue(), compresslevel=6, mtime=0))
    blob = registry_blob_file(registry, layer_digest)
    raw = bytearray(blob.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # same size, different content
    blob.write_bytes(bytes(raw))
    store = Store()
    with pytest.raises(StoreError) as info:
        pull(PullOptions(ref))
    assert layer_digest in info.value.message and "verification failed" in info.value.message
    assert not store.blobs.has(layer_digest)
    _no_trace(store)


def test_malicious_layer_from_a_registry_writes_nothing_outside(
    devenv_root: Path, registry: Registry, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("../../../../../../../../" + str(victim / "pwned").lstrip("/"))
        ti.size = 4
        tar.addfile(ti, io.BytesIO(b"evil"))
    ref = _layer_image(registry, f"evil-{uuid.uuid4().hex[:8]}", buf.getvalue(), tmp_path)
    store = Store()
    with pytest.raises(StoreError) as info:
        pull(PullOptions(ref))
    # Rejected by whichever unpacker ran (the Python applier, or GNU tar on the fast path).
    assert ref.split("/", 1)[1].split(":")[0] in info.value.message
    assert "outside the image root" in info.value.message or "contains '..'" in (info.value.detail or "")
    assert os.listdir(victim) == []
    assert store.images() == [] and store.snapshots.chain_ids() == []


def test_gzip_zstd_and_uncompressed_layers(devenv_root: Path, registry: Registry, tmp_path: Path) -> None:
    import zstandard

    def layer(name: str, data: bytes) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            tar.addfile(ti, io.BytesIO(data))
        return buf.getvalue()

    raws = [layer("a.txt", b"gzip layer\n"), layer("b.txt", b"zstd layer\n"), layer("c.txt", b"plain layer\n")]
    blobs = [
        (mt.OCI_LAYER_GZIP, gzip.compress(raws[0])),
        (mt.OCI_LAYER_ZSTD, zstandard.ZstdCompressor().compress(raws[1])),
        (mt.OCI_LAYER, raws[2]),
    ]
    repo = f"compression-{uuid.uuid4().hex[:8]}"
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [digest_of(r) for r in raws]},
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": put_blob(registry, repo, config), "size": len(config)},
        "layers": [{"mediaType": t, "digest": put_blob(registry, repo, b), "size": len(b)} for t, b in blobs],
    }
    put_manifest(registry, repo, "mixed", manifest)
    image = pull(PullOptions(f"{registry.host}/{repo}:mixed"))
    assert [layer.media_type for layer in image.layers] == [t for t, _ in blobs]
    rootfs = tmp_path / "rootfs"
    Store().snapshots.copy_rootfs(image.chain_ids, rootfs)
    assert sorted(p.name for p in rootfs.iterdir()) == ["a.txt", "b.txt", "c.txt"]
    assert (rootfs / "b.txt").read_text() == "zstd layer\n"
