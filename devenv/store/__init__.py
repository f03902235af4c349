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
``devenv.store.commit`` (the builder)
    ``layer_from_dir(store, upper, parent_chain_id, move=True)`` — an overlay upper dir (whiteouts as
    0/0 devices, opaque xattrs) → gzip layer blob + snapshot (the dir is moved in); ``layer_from_files(store,
    [FileEntry...], parent_chain_id)``; ``layer_from_tar(store, path)``; → ``NewLayer(descriptor, diff_id,
    chain_id)``. ``commit_image(store, parent, layers, changes=ConfigChanges(env=, cmd=, entrypoint=, user=,
    working_dir=, labels=, exposed_ports=, volumes=, stop_signal=, shell=, extra=), name=None)`` → ``Image``.
``devenv.store.artifacts`` (devcontainer features)
    ``fetch_artifact(ref) -> Artifact(descriptor, manifest, config, layer_paths)``, ``resolve_digest(ref)``,
    ``list_tags(repository)``, ``push_artifact(ref, [ArtifactLayer(media_type, path|data, annotations)],
    config=b"{}", config_media_type=application/vnd.devcontainers, annotations={...})``.
``devenv.store.load`` / ``devenv.store.save``
    ``load(path_or_stream, name=None) -> LoadResult`` (docker-archive or OCI layout; tar, tar.gz or dir);
    ``save(refs, out, format="docker"|"oci")``.
``devenv.store.bootstrap``
    ``bootstrap(BootstrapOptions(name, suite, mirror=None, include=(), variant="minbase")) -> Image``.

Hold ``store.transaction()`` across several calls that write content and reference it later (a build),
or take a lease: ``prune`` may otherwise sweep what is not referenced yet.

Higher-level entry points for other packages live in ``devenv.api`` (section ``# --- images ---``).
"""
