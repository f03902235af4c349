"""Push an image (or an artifact) from the store to a registry.

Blobs the registry already has are skipped (HEAD); blobs from another repository of the same
registry are mounted (cross-repository mount, no upload); the rest are uploaded in parallel —
monolithic, or in chunks when ``chunk_size`` is given. The manifest is pushed last, by tag.
"""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from devenv.errors import ImageError
from devenv.events import NULL, Reporter
from devenv.oci.client import RegistryClient, Repository
from devenv.oci.descriptor import Descriptor
from devenv.oci.manifest import Manifest
from devenv.oci.reference import Reference, parse_reference
from devenv.store.store import Store


@dataclass(frozen=True)
class PushOptions:
    src: str  # an image in the store
    dest: str | None = None  # where to push (default: the image's own name)
    chunk_size: int | None = None  # bytes per PATCH; None = one PUT per blob
    parallel: int = 3


def push_blobs(
    store: Store,
    repo: Repository,
    blobs: list[Descriptor],
    *,
    mount_from: str | None,
    chunk_size: int | None,
    reporter: Reporter,
    parallel: int = 3,
) -> None:
    def one(desc: Descriptor) -> None:
        short = desc.digest[7:19]
        if repo.blob_exists(desc.digest):
            reporter.event("push.blob", digest=desc.digest, status="exists", message=f"{short}: already pushed")
            return
        if mount_from and repo.mount_blob(desc.digest, mount_from):
            reporter.event(
                "push.blob", digest=desc.digest, status="mounted", message=f"{short}: mounted from {mount_from}"
            )
            return
        opener = functools.partial(store.blobs.open, desc.digest)
        sent = 0

        def progress(n: int) -> None:
            nonlocal sent
            sent += n
            reporter.event("push.progress", digest=desc.digest, current=sent, total=desc.size)

        repo.push_blob(desc, opener, chunk_size=chunk_size, progress=progress)
        reporter.event("push.blob", digest=desc.digest, size=desc.size, status="pushed", message=f"{short}: pushed")

    unique = list({d.digest: d for d in blobs}.values())
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(unique) or 1))) as pool:
        for f in [pool.submit(one, d) for d in unique]:
            f.result()


def push_manifest(
    store: Store,
    client: RegistryClient,
    dest: Reference,
    manifest: Manifest,
    manifest_bytes: bytes,
    *,
    source: Reference | None = None,
    chunk_size: int | None = None,
    reporter: Reporter = NULL,
) -> Descriptor:
    """Push the blobs of ``manifest`` then the manifest itself to ``dest`` (tag or digest)."""
    repo = client.repository(dest, push=True)
    mount_from = source.path if source and source.domain == dest.domain and source.path != dest.path else None
    push_blobs(
        store,
        repo,
        [manifest.config, *manifest.layers],
        mount_from=mount_from,
        chunk_size=chunk_size,
        reporter=reporter,
    )
    digest = repo.put_manifest(dest.reference, manifest_bytes, manifest.media_type)
    return Descriptor(manifest.media_type, digest, len(manifest_bytes))


def push(
    opts: PushOptions, *, store: Store | None = None, client: RegistryClient | None = None, reporter: Reporter = NULL
) -> Descriptor:
    store = store or Store()
    image = store.image(opts.src)
    dest = parse_reference(opts.dest) if opts.dest else image.reference
    if dest is None:
        raise ImageError(
            f"image {opts.src} has no name to push to", remedy="give a destination: devenv image push SRC DEST"
        )
    if dest.digest and not dest.tag:
        dest = dest.with_digest(image.digest)
    data = store.blobs.read_bytes(image.digest)
    own = client is None
    client = client or RegistryClient(reporter=reporter)
    try:
        reporter.event("push.start", ref=str(dest), message=f"Pushing {dest.familiar()}")
        desc = push_manifest(
            store,
            client,
            dest,
            image.manifest,
            data,
            source=image.reference,
            chunk_size=opts.chunk_size,
            reporter=reporter,
        )
    finally:
        if own:
            client.close()
    reporter.event("push.done", ref=str(dest), digest=desc.digest, message=f"Pushed {dest.familiar()} ({desc.digest})")
    return desc
