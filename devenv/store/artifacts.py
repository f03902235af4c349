"""OCI artifacts (Dev Container features and templates): fetch and publish.

A feature is a manifest whose config has media type ``application/vnd.devcontainers`` and whose
single layer (``application/vnd.devcontainers.layer.v1+tar``) is the feature's tarball; the manifest
carries annotations (``dev.containers.metadata``, ...). Fetched blobs go to the content store
(verified); they are not image records, so ``devenv image prune`` may remove them (they are a cache).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devenv.events import NULL, Reporter
from devenv.oci import mediatypes as mt
from devenv.oci.client import RegistryClient
from devenv.oci.descriptor import Descriptor
from devenv.oci.manifest import Manifest
from devenv.oci.reference import Reference, parse_reference
from devenv.store.pull import fetch_blob, fetch_manifest, resolve
from devenv.store.push import push_manifest
from devenv.store.store import Store


@dataclass(frozen=True)
class Artifact:
    ref: Reference
    descriptor: Descriptor  # of the manifest (its digest pins the artifact)
    manifest: Manifest
    config: bytes
    layer_paths: tuple[Path, ...]  # verified blobs in the content store, one per manifest layer (read-only)

    @property
    def annotations(self) -> Mapping[str, str]:
        return self.manifest.annotations


@dataclass(frozen=True)
class ArtifactLayer:
    """A layer to publish: content from ``path`` or ``data``."""

    media_type: str = mt.DEVCONTAINERS_LAYER
    path: Path | None = None
    data: bytes | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)


def _client(client: RegistryClient | None, reporter: Reporter) -> tuple[RegistryClient, bool]:
    return (client, False) if client is not None else (RegistryClient(reporter=reporter), True)


def fetch_artifact(
    ref: str, *, store: Store | None = None, client: RegistryClient | None = None, reporter: Reporter = NULL
) -> Artifact:
    """Resolve ``ref`` (tag or digest) and fetch its manifest, config and layers into the store."""
    store = store or Store()
    parsed = parse_reference(ref)
    c, own = _client(client, reporter)
    try:
        with store.transaction():
            repo, target, data = resolve(c, parsed)
            desc, manifest = fetch_manifest(store, repo, target, data, None)
            if not store.blobs.has(manifest.config.digest):
                store.blobs.put_bytes(repo.get_blob_bytes(manifest.config), manifest.config.digest)
            for layer in manifest.layers:
                fetch_blob(store, repo, layer, None)
            config = store.blobs.read_bytes(manifest.config.digest)
            paths = tuple(store.blobs.path(layer.digest) for layer in manifest.layers)
    finally:
        if own:
            c.close()
    reporter.event("artifact.fetched", ref=str(parsed), digest=desc.digest)
    return Artifact(parsed, desc, manifest, config, paths)


def resolve_digest(ref: str, *, client: RegistryClient | None = None) -> Descriptor:
    """The manifest descriptor ``ref`` points to now (for lockfiles), without fetching blobs."""
    parsed = parse_reference(ref)
    c, own = _client(client, NULL)
    try:
        _, desc, _ = resolve(c, parsed)
        return desc
    finally:
        if own:
            c.close()


def list_tags(repository: str, *, client: RegistryClient | None = None) -> list[str]:
    """Tags of a repository (``ghcr.io/devcontainers/features/node``)."""
    parsed = parse_reference(repository)
    c, own = _client(client, NULL)
    try:
        return c.repository(parsed).list_tags()
    finally:
        if own:
            c.close()


def push_artifact(
    ref: str,
    layers: Sequence[ArtifactLayer],
    *,
    config: bytes = b"{}",
    config_media_type: str = mt.DEVCONTAINERS_CONFIG,
    annotations: Mapping[str, str] | None = None,
    artifact_type: str = "",
    store: Store | None = None,
    client: RegistryClient | None = None,
    reporter: Reporter = NULL,
) -> Descriptor:
    """Publish an artifact manifest (config + layers + annotations) to ``ref``; returns its descriptor."""
    store = store or Store()
    dest = parse_reference(ref)
    with store.transaction():
        config_digest = store.blobs.put_bytes(config)
        layer_descs = []
        for layer in layers:
            if layer.path is not None:
                with store.blobs.writer() as w, open(layer.path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        w.write(chunk)
                    size = w.size
                    digest = w.commit()
            else:
                data = layer.data or b""
                digest, size = store.blobs.put_bytes(data), len(data)
            layer_descs.append(Descriptor(layer.media_type, digest, size, annotations=dict(layer.annotations)))
        manifest = Manifest(
            mt.OCI_MANIFEST,
            Descriptor(config_media_type, config_digest, len(config)),
            tuple(layer_descs),
            dict(annotations or {}),
            artifact_type,
        )
        data = manifest.to_bytes()
        store.blobs.put_bytes(data)
        c, own = _client(client, reporter)
        try:
            return push_manifest(store, c, dest, manifest, data, reporter=reporter)
        finally:
            if own:
                c.close()
