"""devenv's own image store: content-addressed blobs, image records, leases, GC, and the image verbs.

Layout under the data root (``devenv.paths.data_root()``, ``DEVENV_ROOT`` in tests)::

    store/blobs/sha256/<hex>   verified content (manifests, configs, layers)
    store/ingest/              partial downloads (resumable) and new content being written
    store/images.json          image records: normalised name → descriptor (+ chosen platform manifest)
    store/leases/<owner>.json  what containers/builds use (never garbage-collected)
    store/lock                 shared = content being written; exclusive = garbage collection
    snapshots/<chain hex>/fs   each layer unpacked once (overlay format), see devenv.snapshots

Public API:

``devenv.store.store``
    ``Store(root=None)`` — ``.blobs`` (``BlobStore``: ``has/path/open/read_bytes/put_bytes/ingest/writer``),
    ``.records`` (``ImageRecords``), ``.leases`` (``Leases.add(owner, manifests=, blobs=, snapshots=)`` /
    ``release(owner)``), ``.snapshots`` (``devenv.snapshots.snapshotter.Snapshotter``);
    ``image(ref) -> Image`` (by name, ``name@digest``, digest or ID prefix; raises ``ImageNotFound``),
    ``images()``, ``tag(ref, new_name)``, ``remove(ref, force=False)``, ``transaction()`` (hold while writing
    content you are about to reference), ``ensure_snapshots(image)``, ``layer_mounts(image) -> [Mount]``
    (read-only binds, lowest first).
    ``Image`` — ``.name .id (config digest) .digest (manifest digest) .manifest .config (ImageConfig)
    .layers .diff_ids .chain_ids .size``.
``devenv.store.pull``
    ``pull(PullOptions(ref, platform=None), store=, client=, reporter=) -> Image``.
``devenv.store.push``
    ``push(PushOptions(src, dest=None, chunk_size=None), ...) -> Descriptor`` (manifest pushed).
``devenv.store.gc``
    ``prune(store) -> PruneResult`` — mark and sweep; keeps everything named by a record or a lease.

Higher-level entry points for other packages live in ``devenv.api`` (section ``# --- images ---``).
"""
