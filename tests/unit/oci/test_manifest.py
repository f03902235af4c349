"""Manifests, indexes, configs, platforms: parse what registries serve, pick the right platform."""

from __future__ import annotations

import hashlib
import json

import pytest

from devenv.errors import ImageError
from devenv.oci import mediatypes as mt
from devenv.oci.descriptor import Descriptor, Platform, sha256_digest
from devenv.oci.manifest import ImageConfig, Index, Manifest, diff_ids_to_chain_ids, sniff_media_type

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def _manifest(media_type: str = mt.DOCKER_MANIFEST) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": mt.DOCKER_CONFIG, "digest": D1, "size": 10},
            "layers": [{"mediaType": mt.DOCKER_LAYER_GZIP, "digest": D2, "size": 20}],
        }
    ).encode()


def test_manifest_round_trip_keeps_fields() -> None:
    m = Manifest.parse(_manifest())
    assert m.media_type == mt.DOCKER_MANIFEST
    assert m.config.digest == D1 and m.layers[0].size == 20
    again = Manifest.parse(m.to_bytes())
    assert again == m
    assert m.descriptor().digest == sha256_digest(m.to_bytes())


def test_oci_manifest_without_media_type_field_is_recognised_by_shape() -> None:
    data = json.dumps(
        {
            "schemaVersion": 2,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": D1, "size": 1},
            "layers": [],
        }
    ).encode()
    assert sniff_media_type(data) == mt.OCI_MANIFEST
    assert sniff_media_type(data, mt.OCI_MANIFEST) == mt.OCI_MANIFEST


def test_schema1_is_refused_with_a_remedy() -> None:
    with pytest.raises(ImageError) as info:
        Manifest.parse(json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}).encode())
    assert "schema 1" in info.value.message and info.value.remedy


@pytest.mark.parametrize(
    "bad",
    [
        b"not json",
        b"[]",
        json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": {}, "layers": []}).encode(),
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": mt.OCI_MANIFEST,
                "config": {"digest": "md5:abc", "size": 1},
                "layers": [],
            }
        ).encode(),
    ],
)
def test_malformed_manifests_raise_image_error(bad: bytes) -> None:
    with pytest.raises(ImageError):
        Manifest.parse(bad)


def _index() -> Index:
    def entry(digest: str, arch: str, variant: str = "") -> dict[str, object]:
        plat = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
        return {"mediaType": mt.OCI_MANIFEST, "digest": digest, "size": 1, "platform": plat}

    data = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [entry(D1, "amd64"), entry(D2, "arm64", "v8"), entry(D3, "arm", "v7")],
        }
    ).encode()
    return Index.parse(data)


def test_index_selects_the_platform() -> None:
    idx = _index()
    assert idx.select(Platform("linux", "amd64")).digest == D1
    assert idx.select(Platform.parse("linux/arm64")).digest == D2  # v8 is the default arm64 variant
    assert idx.select(Platform.parse("linux/arm64/v8")).digest == D2
    assert idx.select(Platform.parse("arm")).digest == D3  # arm means arm/v7
    with pytest.raises(ImageError) as info:
        idx.select(Platform.parse("linux/s390x"))
    assert "linux/amd64" in info.value.message and "linux/arm64/v8" in info.value.message


def test_platform_parse_aliases() -> None:
    assert Platform.parse("linux/x86_64") == Platform("linux", "amd64")
    assert Platform.parse("aarch64") == Platform("linux", "arm64")
    with pytest.raises(ImageError):
        Platform.parse("a/b/c/d")


def test_chain_ids_follow_the_oci_definition() -> None:
    a, b, c = ("sha256:" + hashlib.sha256(x).hexdigest() for x in (b"a", b"b", b"c"))
    chain = diff_ids_to_chain_ids([a, b, c])
    assert chain[0] == a
    assert chain[1] == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain[2] == "sha256:" + hashlib.sha256(f"{chain[1]} {c}".encode()).hexdigest()


def test_image_config_accessors() -> None:
    cfg = ImageConfig.parse(
        json.dumps(
            {
                "architecture": "arm64",
                "variant": "v8",
                "os": "linux",
                "config": {
                    "Env": ["PATH=/bin", "A=1"],
                    "Cmd": ["bash"],
                    "Entrypoint": ["/init"],
                    "User": "dev",
                    "WorkingDir": "/work",
                    "Labels": {"k": "v"},
                    "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
                    "StopSignal": "SIGINT",
                },
                "rootfs": {"type": "layers", "diff_ids": [D1, D2]},
            }
        ).encode()
    )
    assert cfg.env == ["PATH=/bin", "A=1"] and cfg.cmd == ["bash"] and cfg.entrypoint == ["/init"]
    assert cfg.user == "dev" and cfg.working_dir == "/work" and cfg.labels == {"k": "v"}
    assert cfg.exposed_ports == ["53/udp", "8080/tcp"] and cfg.stop_signal == "SIGINT"
    assert cfg.platform == Platform("linux", "arm64", "v8")
    assert cfg.chain_ids == diff_ids_to_chain_ids([D1, D2])
    with pytest.raises(ImageError):
        ImageConfig.parse(b'{"config": {}}')


def test_descriptor_rejects_bad_digests_and_sizes() -> None:
    with pytest.raises(ImageError):
        Descriptor.from_json({"mediaType": "x", "digest": "sha256:xyz", "size": 1})
    with pytest.raises(ImageError):
        Descriptor.from_json({"mediaType": "x", "digest": D1, "size": -1})
    d = Descriptor.from_json({"mediaType": "x", "digest": D1, "size": 5, "annotations": {"a": "b"}})
    assert Descriptor.from_json(d.to_json()) == d
