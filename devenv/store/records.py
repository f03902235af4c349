"""Image records: a name (normalised reference) → the descriptor it points to.

All records live in one JSON file (``images.json``), rewritten atomically under ``images.lock``.
A record keeps the descriptor the name resolved to (``target``: an index or a manifest) and the
platform manifest devenv chose from it (``manifest``; equal to ``target`` for single-platform images).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.errors import StoreError
from devenv.fsutil import atomic_write_json, file_lock, read_json
from devenv.oci.descriptor import Descriptor


@dataclass(frozen=True)
class ImageRecord:
    name: str  # normalised reference, e.g. docker.io/library/debian:bookworm or repo@sha256:...
    target: Descriptor
    manifest: Descriptor
    created: float = field(default_factory=time.time)  # when the record was written (pulled/tagged)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target.to_json(),
            "manifest": self.manifest.to_json(),
            "created": self.created,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ImageRecord:
        return cls(
            name=str(obj["name"]),
            target=Descriptor.from_json(obj["target"]),
            manifest=Descriptor.from_json(obj["manifest"]),
            created=float(obj.get("created", 0.0)),
        )


class ImageRecords:
    def __init__(self, root: Path) -> None:
        self.path = root / "images.json"
        self.lock_path = root / "images.lock"

    def _read(self) -> dict[str, ImageRecord]:
        try:
            data = read_json(self.path)
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise StoreError(
                f"the image list {self.path} is damaged: {exc}",
                remedy="restore it from a backup, or delete it (images must then be pulled again)",
            ) from None
        return {name: ImageRecord.from_json(obj) for name, obj in data.get("images", {}).items()}

    def _write(self, records: dict[str, ImageRecord]) -> None:
        atomic_write_json(self.path, {"version": 1, "images": {n: r.to_json() for n, r in sorted(records.items())}})

    @contextmanager
    def edit(self) -> Iterator[dict[str, ImageRecord]]:
        """Read-modify-write the records under the lock; the dict is written back when the block succeeds."""
        with file_lock(self.lock_path, what="the image list"):
            records = self._read()
            yield records
            self._write(records)

    def all(self) -> list[ImageRecord]:
        return sorted(self._read().values(), key=lambda r: r.name)

    def get(self, name: str) -> ImageRecord | None:
        return self._read().get(name)

    def put(self, record: ImageRecord) -> None:
        with self.edit() as records:
            records[record.name] = record

    def delete(self, name: str) -> bool:
        with self.edit() as records:
            return records.pop(name, None) is not None
