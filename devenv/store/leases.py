"""Leases: what a container (or a build in progress) uses, so garbage collection never removes it.

A lease is a file ``leases/<owner>.json`` naming manifests, blobs and snapshots (chain IDs). Prune
keeps everything a lease names, and everything reachable from the manifests it names. The runtime
takes a lease when it creates a container and releases it when the container is removed.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.errors import StoreError
from devenv.fsutil import atomic_write_json, read_json

_OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,200}$")


@dataclass(frozen=True)
class Lease:
    owner: str
    manifests: tuple[str, ...] = ()
    blobs: tuple[str, ...] = ()
    snapshots: tuple[str, ...] = ()
    created: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "manifests": list(self.manifests),
            "blobs": list(self.blobs),
            "snapshots": list(self.snapshots),
            "created": self.created,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Lease:
        return cls(
            owner=str(obj["owner"]),
            manifests=tuple(obj.get("manifests", ())),
            blobs=tuple(obj.get("blobs", ())),
            snapshots=tuple(obj.get("snapshots", ())),
            created=float(obj.get("created", 0.0)),
        )


class Leases:
    def __init__(self, root: Path) -> None:
        self.dir = root / "leases"

    def _path(self, owner: str) -> Path:
        if not _OWNER_RE.match(owner):
            raise StoreError(f"invalid lease owner {owner!r} (letters, digits, _ . : - only)")
        return self.dir / f"{owner.replace(':', '_')}.json"

    def add(
        self,
        owner: str,
        *,
        manifests: Iterable[str] = (),
        blobs: Iterable[str] = (),
        snapshots: Iterable[str] = (),
    ) -> Lease:
        """Create or extend the lease of ``owner``."""
        path = self._path(owner)
        current = self.get(owner) or Lease(owner)
        lease = Lease(
            owner,
            tuple(dict.fromkeys([*current.manifests, *manifests])),
            tuple(dict.fromkeys([*current.blobs, *blobs])),
            tuple(dict.fromkeys([*current.snapshots, *snapshots])),
            current.created,
        )
        atomic_write_json(path, lease.to_json())
        return lease

    def get(self, owner: str) -> Lease | None:
        try:
            return Lease.from_json(read_json(self._path(owner)))
        except FileNotFoundError:
            return None

    def release(self, owner: str) -> bool:
        with contextlib.suppress(FileNotFoundError):
            self._path(owner).unlink()
            return True
        return False

    def all(self) -> list[Lease]:
        if not self.dir.is_dir():
            return []
        out = []
        for path in sorted(self.dir.glob("*.json")):
            with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
                out.append(Lease.from_json(read_json(path)))
        return out
