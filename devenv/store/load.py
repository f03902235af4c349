"""``devenv image load``: import a ``docker save`` archive or an OCI image layout (tar or directory).

Format detection: an ``index.json`` + ``oci-layout`` → OCI layout (Docker ≥ 25 writes both; the
OCI index keeps the original manifest digests, so it wins); else ``manifest.json`` → docker-archive.
Compressed archives (``docker save | gzip``) are read too. Every blob is verified (digests, and
layer DiffIDs against the config) before any record is written.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from devenv.errors import ImageError, StoreError, UsageError
from devenv.events import NULL, Reporter
from devenv.oci import mediatypes as mt
from devenv.oci.descriptor import Descriptor
from devenv.oci.manifest import ImageConfig, Index, Manifest, sniff_media_type
from devenv.oci.reference import parse_reference
from devenv.snapshots.streams import LayerReader
from devenv.store.store import Store


@dataclass(frozen=True)
class LoadResult:
    names: list[str]  # records written (tags; "sha256:<manifest>" for untagged images)
    image_ids: list[str]  # config digests


class _Source(Protocol):
    def exists(self, name: str) -> bool: ...
    def open(self, name: str) -> IO[bytes]: ...


class _DirSource:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        rel = posixpath.normpath("/" + name).lstrip("/")
        return self.root / rel

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def open(self, name: str) -> IO[bytes]:
        return open(self._path(name), "rb")


class _TarSource:
    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.members = {posixpath.normpath(m.name.lstrip("./") or "."): m for m in tar.getmembers()}

    def _member(self, name: str, hops: int = 0) -> tarfile.TarInfo:
        key = posixpath.normpath(name.lstrip("./"))
        m = self.members.get(key)
        if m is None:
            raise KeyError(name)
        if m.issym() and hops < 10:
            return self._member(posixpath.normpath(posixpath.join(posixpath.dirname(key), m.linkname)), hops + 1)
        if m.islnk() and hops < 10:
            return self._member(m.linkname, hops + 1)
        return m

    def exists(self, name: str) -> bool:
        try:
            return self._member(name).isfile()
        except KeyError:
            return False

    def open(self, name: str) -> IO[bytes]:
        f = self.tar.extractfile(self._member(name))
        if f is None:
            raise KeyError(name)
        return f


def _read_json(src: _Source, name: str) -> Any:
    try:
        with src.open(name) as f:
            return json.loads(f.read())
    except KeyError:
        raise ImageError(f"the archive has no {name}") from None
    except ValueError as exc:
        raise ImageError(f"{name} in the archive is not valid JSON: {exc}") from None


def _sniff_compression(head: bytes) -> str:
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return ""


def _copy_blob(store: Store, src: _Source, name: str, expected: str | None = None) -> tuple[str, int, str]:
    """Copy ``name`` into the store; returns (digest, size, compression)."""
    with src.open(name) as f, store.blobs.writer() as w:
        head = f.read(4)
        w.write(head)
        while chunk := f.read(1 << 20):
            w.write(chunk)
        if expected is not None and w.digest != expected:
            raise StoreError(
                f"{name} in the archive is corrupted: its digest is {w.digest}, not {expected}",
                remedy="nothing was loaded; re-create the archive",
            )
        size = w.size
        digest = w.commit()
    return digest, size, _sniff_compression(head)


def _diff_id(store: Store, digest: str, compression: str) -> str:
    if not compression:
        return digest
    with store.blobs.open(digest) as f:
        reader = LayerReader(f, compression)
        try:
            return reader.diff_id()
        finally:
            reader.close()


@contextlib.contextmanager
def _open_source(source: Path | IO[bytes], spool_dir: Path) -> Iterator[_Source]:
    if isinstance(source, Path) and source.is_dir():
        yield _DirSource(source)
        return
    if isinstance(source, Path):
        if not source.exists():
            raise UsageError(
                f"{source}: no such file", remedy="give a file written by `docker save` or `devenv image save`"
            )
        with tarfile.open(source, "r:*") as tar:
            yield _TarSource(tar)
        return
    spool_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=spool_dir) as tmp:  # stdin: tar needs random access
        shutil.copyfileobj(source, tmp, 1 << 20)
        tmp.seek(0)
        try:
            with tarfile.open(fileobj=tmp, mode="r:*") as tar:
                yield _TarSource(tar)
        except tarfile.TarError as exc:
            raise ImageError(f"the input is not a tar archive: {exc}") from None


def load(
    source: Path | IO[bytes], *, store: Store | None = None, name: str | None = None, reporter: Reporter = NULL
) -> LoadResult:
    """Load every image in ``source``. ``name`` names an image whose archive entry has no name."""
    store = store or Store()
    try:
        with store.transaction(), _open_source(source, store.blobs.ingest_dir) as src:
            if src.exists("oci-layout") and src.exists("index.json"):
                entries = _load_oci(store, src, reporter, name)
            elif src.exists("manifest.json"):
                entries = _load_docker(store, src, reporter)
            else:
                raise ImageError(
                    "the input is neither a docker-archive (manifest.json) nor an OCI image layout (index.json)"
                )
            names: list[str] = []
            ids: list[str] = []
            for tags, target, manifest_desc, image_id in entries:
                if not tags and name:
                    tags = [str(parse_reference(name))]
                for tag in tags or [manifest_desc.digest]:
                    store.put_record(tag, target, manifest_desc)
                    names.append(tag)
                ids.append(image_id)
    except tarfile.TarError as exc:
        raise ImageError(f"the archive is damaged: {exc}") from None
    for n in names:
        reporter.event("load.image", name=n, message=f"Loaded image: {n}")
    return LoadResult(names, ids)


_Entry = tuple[list[str], Descriptor, Descriptor, str]  # (names, target, platform manifest, image id)


def _load_docker(store: Store, src: _Source, reporter: Reporter) -> list[_Entry]:
    entries = _read_json(src, "manifest.json")
    if not isinstance(entries, list):
        raise ImageError("manifest.json in the archive is not a list")
    out: list[_Entry] = []
    for entry in entries:
        config_name = str(entry.get("Config", ""))
        config_digest, config_size, _ = _copy_blob(store, src, config_name)
        config = ImageConfig.parse(store.blobs.read_bytes(config_digest))
        layers = []
        layer_names = [str(n) for n in entry.get("Layers") or []]
        if len(layer_names) != len(config.diff_ids):
            raise ImageError(f"{config_name}: {len(layer_names)} layers but {len(config.diff_ids)} DiffIDs")
        for layer_name, want in zip(layer_names, config.diff_ids, strict=True):
            digest, size, compression = _copy_blob(store, src, layer_name)
            diff_id = _diff_id(store, digest, compression)
            if diff_id != want:
                raise StoreError(
                    f"layer {layer_name} in the archive does not match its image config (DiffID {diff_id}, "
                    f"expected {want})",
                    remedy="nothing was loaded; the archive is corrupted",
                )
            layers.append(Descriptor(mt.layer_media_type(compression, docker=compression != "zstd"), digest, size))
            reporter.event("load.layer", digest=digest, message=f"{digest[7:19]}: loaded")
        manifest = Manifest(mt.DOCKER_MANIFEST, Descriptor(mt.DOCKER_CONFIG, config_digest, config_size), tuple(layers))
        data = manifest.to_bytes()
        desc = Descriptor(mt.DOCKER_MANIFEST, store.blobs.put_bytes(data), len(data))
        tags = [str(parse_reference(t)) for t in entry.get("RepoTags") or []]
        out.append((tags, desc, desc, config_digest))
    return out


def _blob_name(digest: str) -> str:
    algo, _, hex_ = digest.partition(":")
    return f"blobs/{algo}/{hex_}"


def _load_oci(store: Store, src: _Source, reporter: Reporter, name: str | None) -> list[_Entry]:
    index = Index.parse(json.dumps(_read_json(src, "index.json")).encode())
    out: list[_Entry] = []
    for desc in index.manifests:
        names = _names(desc, name)
        target, chosen = _copy_tree(store, src, desc, reporter)
        if chosen is None:
            continue  # an artifact or an index without a platform we can use: nothing to name
        manifest = store.manifest(chosen.digest)
        out.append((names, target, chosen, manifest.config.digest))
    return out


def _names(desc: Descriptor, name: str | None) -> list[str]:
    """The name of a layout entry: ``io.containerd.image.name``, else a ``ref.name`` that is a full
    reference (has a ``/``), else ``--name``, else a ``ref.name`` like ``app:1`` read as a reference."""
    candidates = [desc.annotations.get("io.containerd.image.name", "")]
    ref_name = desc.annotations.get("org.opencontainers.image.ref.name", "")
    if "/" in ref_name:
        candidates.append(ref_name)
    candidates.append(name or "")
    if ":" in ref_name:
        candidates.append(ref_name)
    for candidate in candidates:
        if candidate:
            with contextlib.suppress(UsageError):
                return [str(parse_reference(candidate))]
    return []


def _copy_tree(
    store: Store, src: _Source, desc: Descriptor, reporter: Reporter
) -> tuple[Descriptor, Descriptor | None]:
    """Copy a manifest or index and everything it references; returns (target, platform manifest)."""
    _copy_blob(store, src, _blob_name(desc.digest), desc.digest)
    data = store.blobs.read_bytes(desc.digest)
    kind = sniff_media_type(data, desc.media_type)
    target = Descriptor(kind, desc.digest, desc.size, desc.platform)
    if mt.is_index(kind):
        idx = Index.parse(data, kind)
        chosen: Descriptor | None = None
        with contextlib.suppress(ImageError):
            chosen = idx.select()
        if chosen is None and len(idx.manifests) == 1:
            chosen = idx.manifests[0]
        for child in idx.manifests:
            if src.exists(_blob_name(child.digest)):
                _copy_tree(store, src, child, reporter)
        if chosen is not None and not store.blobs.has(chosen.digest):
            raise ImageError(f"the layout lacks manifest {chosen.digest} for this platform")
        return target, chosen
    manifest = Manifest.parse(data, kind)
    _copy_blob(store, src, _blob_name(manifest.config.digest), manifest.config.digest)
    for layer in manifest.layers:
        _copy_blob(store, src, _blob_name(layer.digest), layer.digest)
        reporter.event("load.layer", digest=layer.digest, message=f"{layer.digest[7:19]}: loaded")
    if not manifest.is_image:
        return target, None
    config = ImageConfig.parse(store.blobs.read_bytes(manifest.config.digest))
    if len(config.diff_ids) != len(manifest.layers):
        raise ImageError(f"manifest {desc.digest} has {len(manifest.layers)} layers but {len(config.diff_ids)} DiffIDs")
    return target, target
