"""The image store: blobs + image records + leases + snapshots under one data root, and ``Image``.

Concurrency: every operation that writes content and then references it (pull, load, build commit)
runs inside ``store.transaction()`` — a shared lock on ``store/lock``; garbage collection takes it
exclusively, so it never sweeps content that is being written and not referenced yet.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devenv.errors import ImageError, ImageNotFound, StoreError, UsageError
from devenv.fsutil import file_lock
from devenv.oci import mediatypes as mt
from devenv.oci.descriptor import Descriptor
from devenv.oci.manifest import ImageConfig, Index, Manifest
from devenv.oci.reference import SHA256_RE, Reference, parse_reference
from devenv.paths import data_root
from devenv.snapshots.base import Mount
from devenv.snapshots.snapshotter import Snapshotter
from devenv.store.blobs import BlobStore
from devenv.store.leases import Leases
from devenv.store.records import ImageRecord, ImageRecords

_HEX_PREFIX_RE = re.compile(r"^(sha256:)?[a-f0-9]{4,64}$")


def is_untagged(name: str) -> bool:
    """Records of untagged images (loaded without a name) are named by their manifest digest."""
    return SHA256_RE.match(name) is not None


@dataclass(frozen=True)
class Image:
    """An image in the store, resolved to one platform manifest and its config."""

    name: str  # the record name it was found under ("" when found by ID)
    target: Descriptor  # what the name points to (an index or the manifest)
    descriptor: Descriptor  # the platform manifest
    manifest: Manifest
    config: ImageConfig

    @property
    def id(self) -> str:
        """Docker's image ID: the digest of the config."""
        return self.manifest.config.digest

    @property
    def digest(self) -> str:
        """The manifest digest (what ``name@digest`` pins)."""
        return self.descriptor.digest

    @property
    def diff_ids(self) -> list[str]:
        return self.config.diff_ids

    @property
    def chain_ids(self) -> list[str]:
        return self.config.chain_ids

    @property
    def layers(self) -> tuple[Descriptor, ...]:
        return self.manifest.layers

    @property
    def size(self) -> int:
        """Bytes of the (compressed) content: config + layers."""
        return self.manifest.config.size + sum(layer.size for layer in self.manifest.layers)

    @property
    def reference(self) -> Reference | None:
        return parse_reference(self.name) if self.name and not is_untagged(self.name) else None


@dataclass(frozen=True)
class ImageSummary:
    """One row of ``devenv image ls``."""

    name: str  # normalised reference, "" for untagged
    repository: str  # familiar form ("debian"), "<none>" for untagged
    tag: str  # "<none>" when pulled by digest / untagged
    id: str  # config digest
    digest: str  # manifest (or index) digest
    size: int  # compressed content bytes
    created: str  # image creation time (from the config)
    platform: str


class Store:
    """Open with ``Store()`` (data root from DEVENV_ROOT / defaults) or ``Store(root)``."""

    def __init__(self, root: Path | None = None) -> None:
        self.data_root = root or data_root()
        self.root = self.data_root / "store"
        self.blobs = BlobStore(self.root)
        self.records = ImageRecords(self.root)
        self.leases = Leases(self.root)
        self.snapshots = Snapshotter(self.data_root / "snapshots")
        self.lock_path = self.root / "lock"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Shared store lock: hold it while writing content and referencing it (GC waits for it)."""
        with file_lock(self.lock_path, shared=True, timeout=None, what="the image store"):
            yield

    @contextlib.contextmanager
    def exclusive(self, timeout: float | None = 60.0) -> Iterator[None]:
        with file_lock(self.lock_path, timeout=timeout, what="the image store (another devenv is pulling or building)"):
            yield

    # -- reading -----------------------------------------------------------------------------------
    def manifest(self, digest: str) -> Manifest:
        return Manifest.parse(self.blobs.read_bytes(digest))

    def index(self, digest: str) -> Index:
        return Index.parse(self.blobs.read_bytes(digest))

    def load_image(self, record: ImageRecord) -> Image:
        manifest = Manifest.parse(self.blobs.read_bytes(record.manifest.digest), record.manifest.media_type)
        config = ImageConfig.parse(self.blobs.read_bytes(manifest.config.digest))
        return Image(record.name, record.target, record.manifest, manifest, config)

    def find_record(self, ref: str) -> ImageRecord:
        """A record by name (``debian`` = ``docker.io/library/debian:latest``), digest, or image ID prefix."""
        return self._find(ref)[0]

    def _find(self, ref: str) -> tuple[ImageRecord, bool]:
        """(record, found by its name)."""
        text = ref.strip()
        records = self.records.all()
        by_name = {r.name: r for r in records}
        if not SHA256_RE.match(text):
            try:
                parsed = parse_reference(text)
            except UsageError:
                parsed = None
            if parsed is not None:
                if str(parsed) in by_name:
                    return by_name[str(parsed)], True
                if parsed.digest:
                    for r in records:
                        if (
                            not is_untagged(r.name)
                            and parse_reference(r.name).repository == parsed.repository
                            and parsed.digest
                            in (
                                r.target.digest,
                                r.manifest.digest,
                            )
                        ):
                            return r, True
        if _HEX_PREFIX_RE.match(text):
            want = text if text.startswith("sha256:") else "sha256:" + text
            hits: dict[str, ImageRecord] = {}
            for r in records:
                for digest in (r.target.digest, r.manifest.digest, self._config_digest(r)):
                    if digest and digest.startswith(want):
                        hits.setdefault(digest, r)
            ids = set(hits)
            if len(ids) == 1:
                return next(iter(hits.values())), False
            if len(ids) > 1:
                raise UsageError(f"image ID prefix {text!r} is ambiguous", remedy="give more digits of the ID")
        raise ImageNotFound(
            f"no image {text!r} in the store",
            remedy=f"pull it first: devenv image pull {text}" if not _HEX_PREFIX_RE.match(text) else None,
        )

    def _config_digest(self, record: ImageRecord) -> str:
        try:
            return Manifest.parse(self.blobs.read_bytes(record.manifest.digest, verify=False)).config.digest
        except (StoreError, ImageError, OSError):
            return ""

    def image(self, ref: str) -> Image:
        """The image a user means by ``ref``; raises ImageNotFound."""
        return self.load_image(self.find_record(ref))

    def images(self) -> list[Image]:
        out = []
        for r in self.records.all():
            with contextlib.suppress(StoreError):
                out.append(self.load_image(r))
        return out

    # -- writing -----------------------------------------------------------------------------------
    def tag(self, ref: str, new_name: str) -> ImageRecord:
        record = self.find_record(ref)
        name = str(parse_reference(new_name))
        new = ImageRecord(name, record.target, record.manifest)
        self.records.put(new)
        return new

    def put_record(self, name: str, target: Descriptor, manifest: Descriptor) -> ImageRecord:
        """Name ``target``; a name that is a bare digest (``sha256:…``) records an untagged image."""
        record = ImageRecord(name if SHA256_RE.match(name) else str(parse_reference(name)), target, manifest)
        self.records.put(record)
        return record

    def users_of(self, image: Image) -> list[str]:
        """Owners of leases on this image (containers using it)."""
        return [lease.owner for lease in self.leases.all() if image.digest in lease.manifests]

    def remove(self, ref: str, *, force: bool = False) -> list[str]:
        """Remove the name ``ref`` (or, for an ID, every name of that image); returns the names removed.

        Refuses when a container holds a lease on it unless ``force`` (the content then stays until the
        lease is released; only the name goes).
        """
        record, by_name = self._find(ref)
        image = self.load_image(record)
        same = [r.name for r in self.records.all() if r.manifest.digest == record.manifest.digest]
        names = [record.name] if by_name else same
        users = self.users_of(image)
        others = [n for n in same if n not in names]
        if users and not others and not force:
            raise StoreError(
                f"image {record.name or image.id} is used by {', '.join(users)}",
                remedy="remove those containers first, or use --force (the content stays until they are gone)",
            )
        with self.records.edit() as recs:
            for n in names:
                recs.pop(n, None)
        return names

    # -- snapshots ---------------------------------------------------------------------------------
    def ensure_snapshots(self, image: Image) -> list[str]:
        """Unpack any layer of ``image`` that has no snapshot yet (e.g. after ``load``); returns chain IDs."""
        chain_ids = image.chain_ids
        if all(self.snapshots.has(c) for c in chain_ids):
            return chain_ids
        with self.transaction():
            self._unpack_missing(image)
        return chain_ids

    def _unpack_missing(self, image: Image) -> None:
        parent = ""
        for layer, diff_id, chain_id in zip(image.layers, image.diff_ids, image.chain_ids, strict=True):
            if not self.snapshots.has(chain_id):
                compression = mt.layer_compression(layer.media_type)
                if compression is None:
                    raise StoreError(f"layer {layer.digest} has unsupported media type {layer.media_type!r}")
                opener = functools.partial(self.blobs.open, layer.digest)
                self.snapshots.unpack(chain_id, parent, diff_id, opener, compression)
            parent = chain_id

    def layer_mounts(self, image: Image) -> list[Mount]:
        """Read-only bind mounts of the image's layers, lowest first (unpacking what is missing)."""
        return self.snapshots.layer_mounts(self.ensure_snapshots(image))
