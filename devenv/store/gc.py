"""Garbage collection (``devenv image prune``): mark everything reachable, sweep the rest.

Roots: every image record (its target and platform manifest) and every lease (manifests, blobs,
snapshots a container or a build uses). From a manifest we mark its config and layers, and the
snapshots of its layer chain; from an index the manifests it lists that are in the store. Runs
under the exclusive store lock, so no pull, load or build is half-way through while it sweeps.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field

from devenv.errors import ImageError, StoreError
from devenv.oci import mediatypes as mt
from devenv.oci.manifest import ImageConfig, Index, Manifest, sniff_media_type
from devenv.store.store import Store


@dataclass
class PruneResult:
    blobs_removed: list[str] = field(default_factory=list)
    snapshots_removed: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    partials_removed: int = 0


def mark(store: Store) -> tuple[set[str], set[str]]:
    """(blob digests, snapshot chain IDs) that must be kept."""
    blobs: set[str] = set()
    snapshots: set[str] = set()
    todo: list[str] = []
    for record in store.records.all():
        todo += [record.target.digest, record.manifest.digest]
    for lease in store.leases.all():
        todo += list(lease.manifests)
        blobs.update(lease.blobs)
        snapshots.update(lease.snapshots)
    seen: set[str] = set()
    while todo:
        digest = todo.pop()
        if digest in seen or not store.blobs.has(digest):
            continue
        seen.add(digest)
        blobs.add(digest)
        try:
            data = store.blobs.read_bytes(digest, verify=False)
            kind = sniff_media_type(data)
        except (ImageError, StoreError, OSError):
            continue  # not a manifest we can read: keep it (it is referenced), follow nothing
        if mt.is_index(kind):
            todo += [m.digest for m in Index.parse(data).manifests]
            continue
        try:
            manifest = Manifest.parse(data)
        except ImageError:
            continue
        blobs.add(manifest.config.digest)
        blobs.update(layer.digest for layer in manifest.layers)
        if manifest.subject is not None:
            todo.append(manifest.subject.digest)
        if manifest.is_image and store.blobs.has(manifest.config.digest):
            with contextlib.suppress(ImageError, StoreError):
                config = ImageConfig.parse(store.blobs.read_bytes(manifest.config.digest, verify=False))
                snapshots.update(config.chain_ids)
    return blobs, snapshots


def prune(store: Store, *, dry_run: bool = False, timeout: float | None = 60.0) -> PruneResult:
    """Remove blobs and snapshots that no image record or lease references."""
    result = PruneResult()
    with store.exclusive(timeout=timeout):
        keep_blobs, keep_snapshots = mark(store)
        for digest in list(store.blobs.digests()):
            if digest not in keep_blobs:
                result.blobs_removed.append(digest)
                result.bytes_freed += store.blobs.size(digest) if dry_run else store.blobs.delete(digest)
        for chain_id in store.snapshots.chain_ids():
            if chain_id not in keep_snapshots:
                result.snapshots_removed.append(chain_id)
                if not dry_run:
                    store.snapshots.remove(chain_id)
        if not dry_run:
            store.snapshots.clean_tmp()
            _clean_snapshot_locks(store)
            result.partials_removed = _clean_ingest(store)
    return result


def _clean_snapshot_locks(store: Store) -> None:
    """Lock files of unpacks: nobody unpacks while the store is locked exclusively."""
    locks = store.snapshots.locks
    if locks.is_dir():
        for entry in os.scandir(locks):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def _clean_ingest(store: Store) -> int:
    """Under the exclusive lock nobody ingests: every ingest file is a leftover."""
    removed = 0
    d = store.blobs.ingest_dir
    if not d.is_dir():
        return 0
    for entry in os.scandir(d):
        with contextlib.suppress(FileNotFoundError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += not entry.name.endswith(".lock")
    return removed
