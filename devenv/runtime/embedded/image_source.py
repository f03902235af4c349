"""Where a container's root filesystem comes from: explicit ``ContainerSpec.rootfs`` mounts, or an image
in devenv's store (:mod:`devenv.store`), pulled when missing.

The result is a list of host directories, lowest first, used as overlay lower dirs (or flattened into a
copy), plus the image's configuration (env, entrypoint, cmd, user, working dir).

Resolving an image through the store costs tens of milliseconds of imports (references, manifests,
registry client), too much for ``devenv container run``. So :func:`from_store` first tries a lean
lookup: the store's name records (``store/images.json``), then a cache of what the full resolution
found for that manifest (``containers/.images/<manifest hex>.json``: content addressed, so never stale),
checked against the snapshots still on disk. Anything else (a digest or ID reference, a pull, a layer
not unpacked or pruned) goes the full way, which refreshes the cache.
"""

from __future__ import annotations

import contextlib
import json
import os

TYPE_CHECKING = False  # (typing is not imported at run time: start-up time)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from devenv.events import Reporter
    from devenv.snapshots.base import Mount


class RootfsError(ValueError):
    pass


class ResolvedImage:
    """(A plain class: this module is on the start path of ``devenv container run``.)"""

    def __init__(
        self,
        lower: list[str],  # host directories, lowest first
        env: list[str] | None = None,
        entrypoint: list[str] | None = None,
        cmd: list[str] | None = None,
        user: str = "",
        workdir: str = "",
        labels: dict[str, str] | None = None,
        image_id: str | None = None,  # config digest
        manifest_digest: str | None = None,
        chain_ids: list[str] | None = None,
    ) -> None:
        self.lower = lower
        self.env = env if env is not None else []
        self.entrypoint = entrypoint if entrypoint is not None else []
        self.cmd = cmd if cmd is not None else []
        self.user = user
        self.workdir = workdir
        self.labels = labels if labels is not None else {}
        self.image_id = image_id
        self.manifest_digest = manifest_digest
        self.chain_ids = chain_ids if chain_ids is not None else []

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResolvedImage) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]


def lower_dirs(mounts: Sequence[Mount]) -> list[str]:
    """Host directories, lowest first, of ``mounts`` (binds of layer dirs, or overlay mounts)."""
    dirs: list[str] = []
    for m in mounts:
        if m.type == "bind" or (m.type in ("none", "") and "bind" in m.options) or "rbind" in m.options:
            dirs.append(m.source)
        elif m.type == "overlay":
            lower = m.option("lowerdir")
            if not lower:
                raise RootfsError(f"overlay rootfs mount without lowerdir: {m}")
            dirs.extend(reversed(lower.split(":")))
            upper = m.option("upperdir")
            if upper:  # a writable overlay given as rootfs: its upper is the topmost layer so far
                dirs.append(upper)
        else:
            raise RootfsError(f"unsupported rootfs mount type {m.type!r} (bind or overlay)")
    if not dirs:
        raise RootfsError("no rootfs layers given")
    return dirs


def from_store(ref: str, *, pull: str = "missing", reporter: Reporter | None = None) -> ResolvedImage:
    """Resolve ``ref`` in devenv's image store (``pull``: "missing", "always" or "never")."""
    from devenv.paths import data_root

    return resolve(str(data_root()), ref, pull=pull, reporter=reporter)


def resolve(data_root: str, ref: str, *, pull: str = "missing", reporter: Reporter | None = None) -> ResolvedImage:
    """:func:`from_store` for the data root ``data_root`` (the lean lookup first)."""
    if pull != "always":
        found = quick_lookup(data_root, ref)
        if found is not None:
            return found
    return _full(data_root, ref, pull, reporter)


def _full(data_root: str, ref: str, pull: str, reporter: Reporter | None) -> ResolvedImage:
    from devenv import api

    image = api.get_image(ref, pull=pull, reporter=reporter)
    cfg = image.config
    resolved = ResolvedImage(
        lower=lower_dirs(api.image_layers(image)),
        env=cfg.env,
        entrypoint=cfg.entrypoint,
        cmd=cfg.cmd,
        user=cfg.user,
        workdir=cfg.working_dir,
        labels=cfg.labels,
        image_id=image.id,
        manifest_digest=image.digest,
        chain_ids=list(image.chain_ids),
    )
    with contextlib.suppress(OSError):
        _write_cache(data_root, resolved)
    return resolved


# -- the lean lookup ---------------------------------------------------------------------------------------


def normalise_name(text: str) -> str | None:
    """``busybox`` → ``docker.io/library/busybox:latest``, as :func:`devenv.oci.reference.normalise` for a
    plain ``name[:tag]``; None for anything else (digests, odd characters): the full path decides those."""
    raw = text.strip()
    if not raw or "@" in raw or any(not (c.isalnum() or c in "._-/:[]") for c in raw):
        return None
    name, tag = raw, "latest"
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not tag:
            return None
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, path = "docker.io", name
    else:
        domain, path = first, rest
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    if not path or path.lower() != path:
        return None
    return f"{domain}/{path}:{tag}"


def _cache_path(data_root: str, manifest_digest: str) -> str:
    return os.path.join(data_root, "containers", ".images", manifest_digest.replace(":", "-") + ".json")


def _write_cache(data_root: str, image: ResolvedImage) -> None:
    if not image.manifest_digest or not image.chain_ids:
        return
    path = _cache_path(data_root, image.manifest_digest)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(image.to_dict(), f, sort_keys=True)
    os.replace(tmp, path)


def quick_lookup(data_root: str, ref: str) -> ResolvedImage | None:
    """The image named ``ref`` from the name records and the cache, or None (take the full path)."""
    name = normalise_name(ref)
    if name is None:
        return None
    try:
        with open(os.path.join(data_root, "store", "images.json")) as f:
            record = json.load(f)["images"][name]
        digest = str(record["manifest"]["digest"])
        with open(_cache_path(data_root, digest)) as f:
            cached: dict[str, Any] = json.load(f)
        image = ResolvedImage(**cached)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if image.manifest_digest != digest or len(image.chain_ids) != len(image.lower):
        return None
    snapshots = os.path.join(data_root, "snapshots")
    for chain_id, lower in zip(image.chain_ids, image.lower, strict=True):
        # The store's snapshot of that layer (nowhere else); a pruned or half-unpacked one has no
        # meta.json: the full path unpacks it again.
        snapshot = os.path.join(snapshots, chain_id.partition(":")[2])
        if os.path.normpath(lower) != os.path.normpath(os.path.join(snapshot, "fs")) or not os.path.isfile(
            os.path.join(snapshot, "meta.json")
        ):
            return None
    return image


# -- leases ------------------------------------------------------------------------------------------------


def lease_owner(container_id: str) -> str:
    return f"container:{container_id}"


def lease_path(data_root: str, container_id: str) -> str:
    """The store's lease file of a container (:class:`devenv.store.leases.Leases` naming)."""
    return os.path.join(data_root, "store", "leases", lease_owner(container_id).replace(":", "_") + ".json")


def lease(data_root: str, container_id: str, image: ResolvedImage, *, sync: bool = True) -> None:
    """Keep the image's content from garbage collection while the container exists (the store's lease
    format, written here directly: the store module is heavy to import)."""
    if not image.manifest_digest:
        return
    import time

    path = lease_path(data_root, container_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    obj = {
        "owner": lease_owner(container_id),
        "manifests": [image.manifest_digest],
        "blobs": [],
        "snapshots": list(image.chain_ids),
        "created": time.time(),
    }
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        if sync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def release(data_root: str, container_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(lease_path(data_root, container_id))
