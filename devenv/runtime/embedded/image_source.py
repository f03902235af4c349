"""Where a container's root filesystem comes from: explicit ``ContainerSpec.rootfs`` mounts, or an image
in devenv's store (:mod:`devenv.store`), pulled when missing.

The result is a list of host directories, lowest first, used as overlay lower dirs (or flattened into a
copy), plus the image's configuration (env, entrypoint, cmd, user, working dir).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from devenv.events import NULL, Reporter
from devenv.snapshots.base import Mount


class RootfsError(ValueError):
    pass


@dataclass
class ResolvedImage:
    lower: list[str]  # host directories, lowest first
    env: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    image_id: str | None = None  # config digest
    manifest_digest: str | None = None
    chain_ids: list[str] = field(default_factory=list)


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


def from_store(ref: str, *, pull: str = "missing", reporter: Reporter = NULL) -> ResolvedImage:
    """Resolve ``ref`` in devenv's image store (``pull``: "missing", "always" or "never")."""
    from devenv import api

    image = api.get_image(ref, pull=pull, reporter=reporter)
    cfg = image.config
    return ResolvedImage(
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


def lease(container_id: str, image: ResolvedImage) -> None:
    """Keep the image's content from garbage collection while the container exists."""
    if not image.manifest_digest:
        return
    from devenv.store.store import Store

    Store().leases.add(lease_owner(container_id), manifests=[image.manifest_digest], snapshots=image.chain_ids)


def release(container_id: str) -> None:
    from devenv import api

    api.release_image(lease_owner(container_id))


def lease_owner(container_id: str) -> str:
    return f"container:{container_id}"
