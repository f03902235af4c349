"""Make new layers and images in the store (what the builder uses).

* :func:`layer_from_dir` — an overlay upper directory (whiteouts included) → a compressed layer blob
  + its snapshot (the directory is moved into the snapshot when ``move=True``).
* :func:`layer_from_files` — a list of :class:`~devenv.snapshots.diff.FileEntry` → layer blob + snapshot.
* :func:`commit_image` — parent image + new layers + :class:`ConfigChanges` → new config and manifest,
  optionally tagged. Everything runs inside ``store.transaction()``; hold it yourself across several
  calls (``with store.transaction():``) so a concurrent prune cannot sweep layers you have not
  referenced yet — or take a lease.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import io
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from devenv.oci import mediatypes as mt
from devenv.oci.descriptor import Descriptor, Platform
from devenv.oci.manifest import ImageConfig, Manifest, diff_ids_to_chain_ids, new_image_config
from devenv.snapshots.diff import FileEntry, write_dir_tar, write_files_tar
from devenv.store.blobs import BlobWriter
from devenv.store.store import Image, Store


@dataclass(frozen=True)
class NewLayer:
    descriptor: Descriptor  # the (compressed) blob in the store
    diff_id: str  # sha256 of the uncompressed tar
    chain_id: str  # snapshot name (given the parent chain)
    history: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"created_by": "RUN apt-get ..."}


class _LayerSink(io.RawIOBase):
    """Receives the uncompressed tar: hashes it (DiffID), compresses it into a blob writer."""

    def __init__(self, writer: BlobWriter, compression: str, level: int) -> None:
        super().__init__()
        self.writer = writer
        self.hash = hashlib.sha256()
        self.compression = compression
        self._z: Any = None
        if compression == "gzip":
            self._z = zlib.compressobj(level, zlib.DEFLATED, 31)
        elif compression == "zstd":
            import zstandard

            self._z = zstandard.ZstdCompressor(level=level).compressobj()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.hash.update(data)
        self.writer.write(self._z.compress(data) if self._z else data)
        return len(data)

    def finish(self) -> str:
        if self._z is not None:
            self.writer.write(self._z.flush())
        return "sha256:" + self.hash.hexdigest()


def _write_layer(
    store: Store, produce: Callable[[IO[bytes]], object], compression: str, level: int | None
) -> tuple[Descriptor, str]:
    lvl = level if level is not None else (1 if compression == "gzip" else 3)
    with store.blobs.writer() as w:
        sink = _LayerSink(w, compression, lvl)
        produce(sink)  # type: ignore[arg-type]
        diff_id = sink.finish()
        size = w.size
        digest = w.commit()
    return Descriptor(mt.layer_media_type(compression), digest, size), diff_id


def layer_from_dir(
    store: Store,
    upper: Path,
    parent_chain_id: str = "",
    *,
    compression: str = "gzip",
    level: int | None = None,
    move: bool = True,
    mtime_max: float | None = None,
    history: Mapping[str, Any] | None = None,
) -> NewLayer:
    """Tar + compress ``upper`` into a blob and make it the snapshot on top of ``parent_chain_id``."""
    with store.transaction():
        desc, diff_id = _write_layer(
            store, lambda out: write_dir_tar(upper, out, mtime_max=mtime_max), compression, level
        )
        chain_id = _chain(parent_chain_id, diff_id)
        if move:
            store.snapshots.commit_dir(chain_id, parent_chain_id, diff_id, upper)
        else:
            store.snapshots.unpack(
                chain_id, parent_chain_id, diff_id, lambda: store.blobs.open(desc.digest), compression
            )
    return NewLayer(desc, diff_id, chain_id, dict(history or {}))


def layer_from_files(
    store: Store,
    entries: Iterable[FileEntry],
    parent_chain_id: str = "",
    *,
    compression: str = "gzip",
    level: int | None = None,
    history: Mapping[str, Any] | None = None,
) -> NewLayer:
    """A layer holding exactly ``entries`` (files, dirs, symlinks, whiteouts); snapshot unpacked from it."""
    items = list(entries)
    with store.transaction():
        desc, diff_id = _write_layer(store, lambda out: write_files_tar(items, out), compression, level)
        chain_id = _chain(parent_chain_id, diff_id)
        opener = functools.partial(store.blobs.open, desc.digest)
        store.snapshots.unpack(chain_id, parent_chain_id, diff_id, opener, compression)
    return NewLayer(desc, diff_id, chain_id, dict(history or {}))


def layer_from_tar(
    store: Store,
    tar_path: Path,
    parent_chain_id: str = "",
    *,
    compression: str = "gzip",
    level: int | None = None,
    history: Mapping[str, Any] | None = None,
) -> NewLayer:
    """A layer from an existing uncompressed tar file (e.g. mmdebstrap's output); snapshot unpacked from it."""

    def produce(out: IO[bytes]) -> object:
        with open(tar_path, "rb") as f:
            while chunk := f.read(1 << 20):
                out.write(chunk)
        return None

    with store.transaction():
        desc, diff_id = _write_layer(store, produce, compression, level)
        chain_id = _chain(parent_chain_id, diff_id)
        opener = functools.partial(store.blobs.open, desc.digest)
        store.snapshots.unpack(chain_id, parent_chain_id, diff_id, opener, compression)
    return NewLayer(desc, diff_id, chain_id, dict(history or {}))


def _chain(parent: str, diff_id: str) -> str:
    return diff_ids_to_chain_ids([parent, diff_id])[-1] if parent else diff_id


@dataclass(frozen=True)
class ConfigChanges:
    """Changes to an image config; None = keep the parent's value."""

    env: Mapping[str, str] | None = None  # merged by key into the parent's Env (order kept, new keys appended)
    cmd: Sequence[str] | None = None
    entrypoint: Sequence[str] | None = None
    user: str | None = None
    working_dir: str | None = None
    labels: Mapping[str, str] | None = None  # merged into the parent's labels
    exposed_ports: Sequence[str] | None = None  # added ("8080/tcp")
    volumes: Sequence[str] | None = None  # added
    stop_signal: str | None = None
    shell: Sequence[str] | None = None
    extra: Mapping[str, Any] | None = None  # any other config key (e.g. Healthcheck), replaced


def apply_changes(config: dict[str, Any], changes: ConfigChanges) -> dict[str, Any]:
    c = dict(config.get("config") or {})
    if changes.env is not None:
        env = [str(e) for e in c.get("Env") or []]
        keys = [e.split("=", 1)[0] for e in env]
        for k, v in changes.env.items():
            if k in keys:
                env[keys.index(k)] = f"{k}={v}"
            else:
                env.append(f"{k}={v}")
                keys.append(k)
        c["Env"] = env
    for key, value in (
        ("Cmd", changes.cmd),
        ("Entrypoint", changes.entrypoint),
        ("Shell", changes.shell),
    ):
        if value is not None:
            c[key] = list(value)
    for key, text in (("User", changes.user), ("WorkingDir", changes.working_dir), ("StopSignal", changes.stop_signal)):
        if text is not None:
            c[key] = text
    if changes.labels is not None:
        c["Labels"] = {**(c.get("Labels") or {}), **changes.labels}
    if changes.exposed_ports is not None:
        c["ExposedPorts"] = {**(c.get("ExposedPorts") or {}), **{p: {} for p in changes.exposed_ports}}
    if changes.volumes is not None:
        c["Volumes"] = {**(c.get("Volumes") or {}), **{v: {} for v in changes.volumes}}
    if changes.extra:
        c.update(changes.extra)
    return {**config, "config": c}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def commit_image(
    store: Store,
    parent: Image | None,
    layers: Sequence[NewLayer],
    *,
    changes: ConfigChanges | None = None,
    name: str | None = None,
    platform: Platform | None = None,
    created: str | None = None,
    docker_media_types: bool = False,
) -> Image:
    """A new image = ``parent`` (or scratch) + ``layers`` + ``changes``; tagged ``name`` if given.

    An image without a name has no record: it survives ``prune`` only while a lease names its manifest
    (``store.leases.add(owner, manifests=[image.digest])``).
    """
    stamp = created or _now()
    if parent is not None:
        raw = parent.config.to_dict()
        base_layers = list(parent.manifest.layers)
    else:
        raw = new_image_config(platform=platform, created=stamp).to_dict()
        base_layers = []
    raw["rootfs"] = {"type": "layers", "diff_ids": [*raw["rootfs"]["diff_ids"], *(lay.diff_id for lay in layers)]}
    raw["history"] = [
        *raw.get("history", []),
        *({"created": stamp, **lay.history} for lay in layers),
    ]
    raw["created"] = stamp
    if changes is not None:
        raw = apply_changes(raw, changes)
    config = ImageConfig(raw)
    config_bytes = config.to_bytes()
    with store.transaction():
        config_digest = store.blobs.put_bytes(config_bytes)
        docker = docker_media_types and all(lay.descriptor.media_type != mt.OCI_LAYER_ZSTD for lay in layers)
        new_descs = [
            Descriptor(
                mt.layer_media_type(mt.layer_compression(lay.descriptor.media_type) or "", docker=docker),
                lay.descriptor.digest,
                lay.descriptor.size,
            )
            for lay in layers
        ]
        manifest = Manifest(
            mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST,
            Descriptor(mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG, config_digest, len(config_bytes)),
            tuple(base_layers + new_descs),
        )
        data = manifest.to_bytes()
        digest = store.blobs.put_bytes(data)
        desc = Descriptor(manifest.media_type, digest, len(data))
        if name:
            record = store.put_record(name, desc, desc)
            return store.load_image(record)
    return Image("", desc, desc, manifest, config)
