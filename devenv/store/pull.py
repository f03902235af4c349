"""Pull an image from a registry into the store: resolve, pick the platform, fetch, verify, unpack.

Layers download in parallel (threads sharing one connection pool) and each is unpacked into its
snapshot as soon as it is complete. Every blob is verified before it becomes visible; the image
record is written last, so an interrupted pull leaves no image, only resumable partial downloads.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, cast

from devenv.errors import ImageError, ImageNotFound, Interrupted, RegistryError, StoreError
from devenv.events import NULL, Reporter
from devenv.oci import mediatypes as mt
from devenv.oci.client import RegistryClient, Repository
from devenv.oci.descriptor import Descriptor, Platform
from devenv.oci.manifest import ImageConfig, Index, Manifest
from devenv.oci.reference import DEFAULT_DOMAIN, Reference, parse_reference
from devenv.snapshots.streams import ChunkPipe, PipeAborted
from devenv.store.blobs import Ingest
from devenv.store.store import Image, Store

BOOTSTRAP_IMAGES = ("library/debian", "library/ubuntu")


@dataclass(frozen=True)
class PullOptions:
    ref: str
    platform: Platform | None = None  # None = this machine's
    unpack: bool = True  # unpack layers into snapshots as they arrive
    parallel: int = 4


class _Progress:
    """Throttled ``pull.progress`` events per layer."""

    def __init__(self, reporter: Reporter, desc: Descriptor, cancel: threading.Event) -> None:
        self.reporter = reporter
        self.cancel = cancel
        self.desc = desc
        self.done = 0
        self.last = 0.0
        self.lock = threading.Lock()

    def __call__(self, n: int) -> None:
        if self.cancel.is_set():
            raise Interrupted("pull interrupted")
        with self.lock:
            self.done += n
            now = time.monotonic()
            if now - self.last < 0.1 and self.done < self.desc.size:
                return
            self.last = now
        self.reporter.event(
            "pull.progress", digest=self.desc.digest, current=min(self.done, self.desc.size), total=self.desc.size
        )


def _offline_hint(ref: Reference, exc: RegistryError) -> RegistryError:
    if ref.domain != DEFAULT_DOMAIN or ref.path not in BOOTSTRAP_IMAGES or "cannot reach" not in exc.message:
        return exc
    distro = ref.path.split("/")[1]
    suite = ref.tag if ref.tag and ref.tag.isalpha() and ref.tag != "latest" else "<codename>"
    return RegistryError(
        exc.message,
        detail=exc.detail,
        remedy=f"build the base image locally instead: devenv image bootstrap {distro}:{ref.tag or 'latest'} "
        f"--suite {suite} (uses this machine's apt sources, or --mirror URL)",
    )


def resolve(client: RegistryClient, ref: Reference) -> tuple[Repository, Descriptor, bytes]:
    """GET the manifest for ``ref``, trying configured mirrors first; returns where it was found."""
    errors: list[Exception] = []
    for mirror in client.pull_candidates(ref):
        try:
            repo = client.repository(ref, mirror=mirror)
            desc, data = repo.get_manifest(ref.reference)
            return repo, desc, data
        except (RegistryError, ImageNotFound) as exc:
            if mirror is None:
                if isinstance(exc, RegistryError):
                    raise _offline_hint(ref, exc) from None
                raise
            errors.append(exc)
    raise RegistryError(f"cannot resolve {ref}")  # not reached: the host itself is always a candidate


def fetch_manifest(
    store: Store, repo: Repository, target: Descriptor, data: bytes, platform: Platform | None
) -> tuple[Descriptor, Manifest]:
    """Store ``target`` (and, for an index, the chosen platform manifest); returns the platform manifest."""
    store.blobs.put_bytes(data, target.digest)
    if mt.is_index(target.media_type):
        chosen = Index.parse(data, target.media_type).select(platform)
        if store.blobs.has(chosen.digest):
            mdata = store.blobs.read_bytes(chosen.digest)
        else:
            _, mdata = repo.get_manifest(chosen.digest)
            store.blobs.put_bytes(mdata, chosen.digest)
        manifest = Manifest.parse(mdata, chosen.media_type)
        return Descriptor(manifest.media_type, chosen.digest, len(mdata), chosen.platform), manifest
    return target, Manifest.parse(data, target.media_type)


class _Tee:
    """An ingest that also hands every byte to an unpack running in parallel."""

    def __init__(self, ingest: Ingest, pipe: ChunkPipe) -> None:
        self.ingest = ingest
        self.pipe = pipe

    @property
    def offset(self) -> int:
        return self.ingest.offset

    def write(self, data: bytes) -> None:
        self.ingest.write(data)
        self.pipe.feed(data)

    def reset(self) -> None:
        self.ingest.reset()
        self.pipe.abort("the download restarted")

    def commit(self) -> object:
        path = self.ingest.commit()
        self.pipe.finish()
        return path


def fetch_and_unpack(
    store: Store,
    repo: Repository,
    desc: Descriptor,
    unpack: Callable[[Callable[[], IO[bytes]]], object],
    progress: Callable[[int], None] | None,
) -> bool:
    """Download a blob and unpack it at the same time (one pass over the network stream).

    Falls back to unpacking from the stored blob when streaming is not possible (a partial download
    to resume, a restarted download). Returns True when the blob was downloaded.
    """
    with store.blobs.ingest(desc.digest, desc.size) as ing:
        if ing is None or ing.offset:
            streamed = False
        else:
            streamed = True
            pipe = ChunkPipe()
            errors: list[BaseException] = []

            def consume() -> None:
                try:
                    unpack(lambda: cast(IO[bytes], pipe))
                except BaseException as exc:
                    errors.append(exc)
                finally:
                    pipe.reader_done()

            worker = threading.Thread(target=consume, name="devenv-unpack", daemon=True)
            worker.start()
            try:
                repo.fetch_blob(desc, _Tee(ing, pipe), progress)
            except BaseException:
                pipe.abort("the download failed")
                worker.join()
                raise
            worker.join()
            if errors and not isinstance(errors[0], PipeAborted):
                raise errors[0]
            if not errors:
                return True
    downloaded = ing is not None
    if not streamed and ing is not None:
        downloaded = fetch_blob(store, repo, desc, progress)
    unpack(functools.partial(store.blobs.open, desc.digest))
    return downloaded


def fetch_blob(store: Store, repo: Repository, desc: Descriptor, progress: Callable[[int], None] | None) -> bool:
    """Download one blob into the store unless present (resumable); True when it was downloaded."""
    with store.blobs.ingest(desc.digest, desc.size) as ing:
        if ing is None:
            return False
        repo.fetch_blob(desc, ing, progress)
        return True


def pull(
    opts: PullOptions, *, store: Store | None = None, client: RegistryClient | None = None, reporter: Reporter = NULL
) -> Image:
    """Pull ``opts.ref``; returns the stored Image. Raises RegistryError/ImageNotFound/StoreError."""
    import gc

    gc.enable()  # long work (a short-lived command such as `up` may have turned the collector off)
    store = store or Store()
    ref = parse_reference(opts.ref)
    own_client = client is None
    client = client or RegistryClient(reporter=reporter)
    try:
        reporter.event("pull.resolve", ref=str(ref), message=f"Resolving {ref.familiar()}")
        with store.transaction():
            repo, target, data = resolve(client, ref)
            desc, manifest = fetch_manifest(store, repo, target, data, opts.platform)
            if not manifest.is_image:
                raise ImageError(
                    f"{ref} is an OCI artifact ({manifest.config.media_type or manifest.artifact_type}), not an image"
                )
            if not store.blobs.has(manifest.config.digest):
                store.blobs.put_bytes(repo.get_blob_bytes(manifest.config), manifest.config.digest)
            config = ImageConfig.parse(store.blobs.read_bytes(manifest.config.digest))
            _check(ref, manifest, config, opts.platform, reporter)
            try:
                _fetch_layers(store, repo, manifest, config, opts, reporter)
            except StoreError as exc:
                raise type(exc)(f"{ref.familiar()}: {exc.message}", remedy=exc.remedy, detail=exc.detail) from None
            name = str(ref)
            record = store.put_record(name, target, desc)
        image = store.load_image(record)
        reporter.event(
            "pull.done",
            ref=name,
            digest=target.digest,
            id=image.id,
            message=f"Pulled {ref.familiar()} ({target.digest})",
        )
        return image
    finally:
        if own_client:
            client.close()


def _check(ref: Reference, manifest: Manifest, config: ImageConfig, want: Platform | None, reporter: Reporter) -> None:
    layers = [layer for layer in manifest.layers if mt.is_layer(layer.media_type)]
    if len(layers) != len(manifest.layers):
        odd = next(layer.media_type for layer in manifest.layers if not mt.is_layer(layer.media_type))
        raise ImageError(f"{ref} has a layer of unsupported media type {odd!r}")
    if len(config.diff_ids) != len(manifest.layers):
        raise ImageError(
            f"{ref} is inconsistent: {len(manifest.layers)} layers but {len(config.diff_ids)} DiffIDs in its config"
        )
    if want is not None and config.platform.architecture and not want.matches(config.platform):
        reporter.event(
            "warning",
            message=f"{ref.familiar()} is for {config.platform}, not the requested {want}",
        )


def _fetch_layers(
    store: Store, repo: Repository, manifest: Manifest, config: ImageConfig, opts: PullOptions, reporter: Reporter
) -> None:
    chain_ids = config.chain_ids
    total = len(manifest.layers)
    cancel = threading.Event()

    def one(i: int) -> None:
        layer, diff_id, chain_id = manifest.layers[i], config.diff_ids[i], chain_ids[i]
        short = layer.digest[7:19]
        if store.blobs.has(layer.digest, layer.size) and (not opts.unpack or store.snapshots.has(chain_id)):
            reporter.event("pull.layer", digest=layer.digest, status="exists", message=f"{short}: already present")
            return
        progress = _Progress(reporter, layer, cancel)
        if not opts.unpack:
            downloaded = fetch_blob(store, repo, layer, progress)
        else:
            compression = mt.layer_compression(layer.media_type) or ""
            parent = chain_ids[i - 1] if i else ""

            def unpack(opener: Callable[[], IO[bytes]]) -> object:
                try:
                    return store.snapshots.unpack(chain_id, parent, diff_id, opener, compression)
                except StoreError as exc:
                    if isinstance(exc, PipeAborted):
                        raise
                    raise type(exc)(
                        f"layer {layer.digest}: {exc.message}", remedy=exc.remedy, detail=exc.detail
                    ) from None

            downloaded = fetch_and_unpack(store, repo, layer, unpack, progress)
        reporter.event(
            "pull.layer",
            digest=layer.digest,
            size=layer.size,
            status="downloaded" if downloaded else "exists",
            message=f"{short}: {'downloaded' if downloaded else 'already present'} ({i + 1}/{total})",
        )
        if opts.unpack:
            reporter.event("pull.layer", digest=layer.digest, status="unpacked", message=f"{short}: unpacked")

    workers = max(1, min(opts.parallel, total))
    if workers == 1:
        for i in range(total):
            one(i)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="devenv-pull")
    try:
        futures = [pool.submit(one, i) for i in range(total)]
        for f in futures:
            exc = f.exception()
            if exc is not None:
                raise exc
    finally:
        cancel.set()  # stops the other downloads at their next chunk (their partial files stay for a resume)
        pool.shutdown(wait=True, cancel_futures=True)
