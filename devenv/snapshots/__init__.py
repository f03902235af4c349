"""Layer snapshots: each layer unpacked once into a directory named by its chain ID; overlay or copy mounts.

``devenv.snapshots.base``
    ``Mount(type, source, options)`` — the currency between snapshots and the runtime (shared contract).
``devenv.snapshots.snapshotter``
    ``Snapshotter(root)``: ``has/fs/info(chain_id)``, ``unpack(chain_id, parent, diff_id, opener, compression)``
    (verifies the DiffID; atomic; one unpack per layer across processes), ``commit_dir`` (adopt an upper
    dir), ``layer_mounts(chain_ids)`` (read-only binds, lowest first), ``overlay(chain_ids, upper, work)``,
    ``copy_rootfs(chain_ids, dest)`` (copy fallback); ``overlay_mount(lower_dirs, upper, work)``;
    ``flatten_layer(layer_dir, dest)``.
``devenv.snapshots.unpack``
    ``apply_tar(stream, root, "overlay"|"apply")`` — the Python applier, safe against malicious tarballs.
``devenv.snapshots.tarunpack``
    ``unpack_layer(raw, compression, root) -> diff_id`` — the fast path (igzip/gzip/zstd + GNU tar), as root.
``devenv.snapshots.diff``
    ``write_dir_tar(dir, out)`` (an upper dir → a layer tar with ``.wh.`` whiteouts), ``write_files_tar``,
    ``FileEntry``.
"""
