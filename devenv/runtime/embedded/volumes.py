"""Volumes managed by devenv: directories under ``<data root>/volumes/<name>/_data``.

A named volume is created on first use and lives until removed explicitly (``devenv volume rm``);
an anonymous one (a ``volume`` mount without a source) gets a random name and goes with its
container when it is removed with ``--volumes`` (or ``--rm``). A new, empty volume is filled with what
the image has at the mount target on its first mount (Docker's copy-up).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from devenv.runtime.embedded import layout

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
META = "volume.json"


class VolumeError(Exception):
    pass


@dataclass(frozen=True)
class Volume:
    name: str
    path: str  # the directory mounted into containers
    created: float
    anonymous: bool = False
    new: bool = False  # created just now (empty): gets the image's content on first mount


def volumes_dir(data_root: str) -> str:
    return os.path.join(data_root, "volumes")


def _meta(data_root: str, name: str) -> str:
    return os.path.join(volumes_dir(data_root), name, META)


def validate_name(name: str) -> None:
    if not NAME.match(name) or len(name) > 255:
        raise VolumeError(
            f"invalid volume name {name!r}: use letters, digits, '_', '.' and '-', starting with a letter or digit"
        )


def ensure(data_root: str, name: str = "", *, anonymous: bool = False) -> Volume:
    """The volume ``name``, created if missing (``name`` "" = a new anonymous volume)."""
    if not name:
        name, anonymous = os.urandom(32).hex(), True
    validate_name(name)
    path = os.path.join(volumes_dir(data_root), name, "_data")
    with layout.locked(os.path.join(volumes_dir(data_root), ".lock")):
        if os.path.isdir(path) and os.path.exists(_meta(data_root, name)):
            meta = layout.read_json(_meta(data_root, name))
            return Volume(name, path, float(meta.get("created", 0)), bool(meta.get("anonymous", False)))
        os.makedirs(path, mode=0o755, exist_ok=True)
        created = time.time()
        layout.write_json(_meta(data_root, name), {"created": created, "anonymous": anonymous})
    return Volume(name, path, created, anonymous, new=True)


def get(data_root: str, name: str) -> Volume:
    validate_name(name)
    try:
        meta = layout.read_json(_meta(data_root, name))
    except FileNotFoundError:
        raise VolumeError(f"no such volume: {name}") from None
    return Volume(
        name,
        os.path.join(volumes_dir(data_root), name, "_data"),
        float(meta.get("created", 0)),
        bool(meta.get("anonymous")),
    )


def list_all(data_root: str) -> list[Volume]:
    base = volumes_dir(data_root)
    if not os.path.isdir(base):
        return []
    found = []
    for entry in sorted(os.listdir(base)):
        if entry.startswith("."):
            continue
        try:
            found.append(get(data_root, entry))
        except VolumeError:
            continue
    return found


def remove(data_root: str, name: str, users: list[str]) -> None:
    """Delete a volume. ``users``: names of containers that mount it (then it is refused)."""
    vol = get(data_root, name)
    if users:
        raise VolumeError(f"volume {name} is in use by container {', '.join(users)}")
    top = os.path.dirname(vol.path)
    if layout.mounts_below(top):
        raise VolumeError(f"volume {name} is mounted somewhere on the host; unmount it first")
    import shutil

    shutil.rmtree(top)
