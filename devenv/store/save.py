"""``devenv image save``: write images as a ``docker save`` archive (``docker load`` reads it) or an OCI layout.

* ``docker``: ``manifest.json`` (Config, RepoTags, Layers), ``<config hex>.json``, ``<DiffID hex>/layer.tar``
  (uncompressed, as Docker writes them), ``repositories``. The layer DiffIDs are checked on the way.
* ``oci``: ``oci-layout``, ``index.json`` (one entry per name, annotated with
  ``org.opencontainers.image.ref.name`` = tag and ``io.containerd.image.name`` = full name) and
  ``blobs/sha256/*`` copied as stored (original digests kept). Written as a tar, or into a directory.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Literal

from devenv.errors import StoreError, UsageError
from devenv.events import NULL, Reporter
from devenv.oci import mediatypes as mt
from devenv.oci.descriptor import Descriptor
from devenv.oci.manifest import canonical_json
from devenv.snapshots.streams import LayerReader
from devenv.store.store import Image, Store, is_untagged

Format = Literal["docker", "oci"]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    tar.addfile(ti, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE
    ti.mode = 0o755
    tar.addfile(ti)


def _resolve(store: Store, refs: Sequence[str]) -> list[tuple[str, Image]]:
    out = []
    for ref in refs:
        image = store.image(ref)
        out.append((image.name, image))
    return out


def save(
    refs: Sequence[str],
    out: IO[bytes] | Path,
    *,
    format: Format = "docker",
    store: Store | None = None,
    reporter: Reporter = NULL,
) -> None:
    """Write the images ``refs`` to ``out`` (a binary stream, a file path, or — for OCI — a directory)."""
    if not refs:
        raise UsageError("name at least one image to save")
    store = store or Store()
    images = _resolve(store, refs)
    if format == "oci" and isinstance(out, Path) and out.is_dir():
        _save_oci_dir(store, images, out)
        return
    if isinstance(out, Path):
        tmp = out.with_name(f".{out.name}.partial")
        with open(tmp, "wb") as f:
            save(refs, f, format=format, store=store, reporter=reporter)
        os.replace(tmp, out)
        return
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if format == "docker":
            _save_docker(store, images, tar, reporter)
        elif format == "oci":
            _save_oci(store, images, tar)
        else:
            raise UsageError(f"unknown archive format {format!r}", remedy="use docker or oci")


def _save_docker(store: Store, images: list[tuple[str, Image]], tar: tarfile.TarFile, reporter: Reporter) -> None:
    manifest_json = []
    repositories: dict[str, dict[str, str]] = {}
    written: set[str] = set()
    by_id: dict[str, list[str]] = {}
    for name, image in images:
        by_id.setdefault(image.id, [])
        if name and not is_untagged(name):
            ref = image.reference
            if ref is not None and ref.tag:
                by_id[image.id].append(ref.familiar() if ":" in ref.familiar() else f"{ref.familiar()}:latest")
                repositories.setdefault(ref.familiar().rsplit(":", 1)[0], {})[ref.tag] = image.id[7:]
    done: set[str] = set()
    for _, image in images:
        if image.id in done:
            continue
        done.add(image.id)
        config_name = f"{image.id[7:]}.json"
        if config_name not in written:
            _add_bytes(tar, config_name, store.blobs.read_bytes(image.id))
            written.add(config_name)
        layer_names = []
        for layer, diff_id in zip(image.layers, image.diff_ids, strict=True):
            name = f"{diff_id[7:]}/layer.tar"
            if name not in written:
                _add_dir(tar, diff_id[7:])
                _add_layer(store, tar, layer, diff_id, name)
                written.add(name)
                reporter.event("save.layer", digest=layer.digest, message=f"{diff_id[7:19]}: saved")
            layer_names.append(name)
        manifest_json.append({"Config": config_name, "RepoTags": by_id[image.id] or None, "Layers": layer_names})
    _add_bytes(tar, "manifest.json", json.dumps(manifest_json).encode())
    if repositories:
        _add_bytes(tar, "repositories", json.dumps(repositories).encode())


def _add_layer(store: Store, tar: tarfile.TarFile, layer: Descriptor, diff_id: str, name: str) -> None:
    compression = mt.layer_compression(layer.media_type) or ""
    if not compression:
        ti = tarfile.TarInfo(name)
        ti.size = layer.size
        ti.mode = 0o644
        with store.blobs.open(layer.digest) as f:
            tar.addfile(ti, f)
        return
    store.blobs.ingest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=store.blobs.ingest_dir) as tmp:  # tar headers need the size first
        with store.blobs.open(layer.digest) as f:
            reader = LayerReader(f, compression)
            try:
                shutil.copyfileobj(reader, tmp, 1 << 20)
                actual = reader.diff_id()
            finally:
                reader.close()
        if actual != diff_id:
            raise StoreError(f"layer {layer.digest} in the store is corrupted (DiffID {actual}, expected {diff_id})")
        ti = tarfile.TarInfo(name)
        ti.size = tmp.tell()
        ti.mode = 0o644
        tmp.seek(0)
        tar.addfile(ti, tmp)


def _oci_index(images: list[tuple[str, Image]]) -> bytes:
    """index.json: one entry per name, pointing at the platform manifest devenv has (an index pulled
    from a registry is not complete in the store: only this machine's platform was fetched)."""
    manifests = []
    for _, image in images:
        entry = image.descriptor.to_json()
        entry["mediaType"] = image.manifest.media_type
        if image.descriptor.platform is None:
            entry["platform"] = image.config.platform.to_json()
        ref = image.reference
        if ref is not None:
            entry["annotations"] = {"io.containerd.image.name": str(ref)}
            if ref.tag:
                entry["annotations"]["org.opencontainers.image.ref.name"] = ref.tag
        manifests.append(entry)
    return canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests})


def _blob_digests(images: list[tuple[str, Image]]) -> list[str]:
    digests: dict[str, None] = {}
    for _, image in images:
        digests[image.digest] = None
        digests[image.id] = None
        for layer in image.layers:
            digests[layer.digest] = None
    return list(digests)


def _save_oci(store: Store, images: list[tuple[str, Image]], tar: tarfile.TarFile) -> None:
    _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    for d in ("blobs", "blobs/sha256"):
        _add_dir(tar, d)
    for digest in _blob_digests(images):
        ti = tarfile.TarInfo(f"blobs/sha256/{digest[7:]}")
        ti.size = store.blobs.size(digest)
        ti.mode = 0o644
        with store.blobs.open(digest) as f:
            tar.addfile(ti, f)
    _add_bytes(tar, "index.json", _oci_index(images))


def _save_oci_dir(store: Store, images: list[tuple[str, Image]], dest: Path) -> None:
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for digest in _blob_digests(images):
        target = blobs / digest[7:]
        if not target.exists():
            shutil.copyfile(store.blobs.path(digest), target)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (dest / "index.json").write_bytes(_oci_index(images))
