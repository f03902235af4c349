"""The build cache: cache key → the layer that step produced, plus the inputs that made the key.

``<data root>/build/cache/<hex>.json`` per step, written atomically after the layer blob is in the
store, so a crash never leaves a record pointing at nothing. A record whose blob has been pruned is a
miss. ``<data root>/build/history/<name>.json`` keeps, per build target (config file or image name),
the inputs of each step of the last build: ``--explain`` compares against it to say what changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.build.plan import Inputs
from devenv.fsutil import atomic_write_json, read_json
from devenv.paths import data_root


@dataclass(frozen=True)
class CachedLayer:
    digest: str  # blob digest (compressed)
    size: int
    media_type: str
    diff_id: str


@dataclass(frozen=True)
class CacheRecord:
    key: str
    layer: CachedLayer | None  # None: the step changed nothing (no layer)
    inputs: Inputs
    created: float
    history: str = ""

    def to_json(self) -> dict[str, Any]:
        layer = None
        if self.layer is not None:
            layer = {
                "digest": self.layer.digest,
                "size": self.layer.size,
                "mediaType": self.layer.media_type,
                "diffID": self.layer.diff_id,
            }
        return {
            "key": self.key,
            "layer": layer,
            "inputs": [list(kv) for kv in self.inputs],
            "created": self.created,
            "history": self.history,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> CacheRecord:
        raw = obj.get("layer")
        layer = None
        if raw:
            layer = CachedLayer(str(raw["digest"]), int(raw["size"]), str(raw["mediaType"]), str(raw["diffID"]))
        inputs = tuple((str(k), str(v)) for k, v in obj.get("inputs", []))
        return cls(str(obj["key"]), layer, inputs, float(obj.get("created", 0)), str(obj.get("history", "")))


def _hex(key: str) -> str:
    return key.split(":", 1)[-1]


class BuildCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or data_root() / "build"
        self.records = self.root / "cache"
        self.histories = self.root / "history"

    def get(self, key: str) -> CacheRecord | None:
        try:
            return CacheRecord.from_json(read_json(self.records / f"{_hex(key)}.json"))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    def put(self, record: CacheRecord) -> None:
        atomic_write_json(self.records / f"{_hex(record.key)}.json", record.to_json())

    def drop(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.records / f"{_hex(key)}.json").unlink()

    # --- per-target history, for --explain ---------------------------------------------------------

    def _history_path(self, target: str) -> Path:
        return self.histories / (hashlib.sha256(target.encode()).hexdigest()[:32] + ".json")

    def last_inputs(self, target: str) -> dict[str, Inputs]:
        try:
            obj = read_json(self._history_path(target))
        except (FileNotFoundError, ValueError):
            return {}
        steps = obj.get("steps", {}) if isinstance(obj, dict) else {}
        return {str(k): tuple((str(a), str(b)) for a, b in v) for k, v in steps.items()}

    def save_inputs(self, target: str, steps: Sequence[tuple[str, Inputs]]) -> None:
        atomic_write_json(
            self._history_path(target),
            {"target": target, "time": time.time(), "steps": {sid: [list(kv) for kv in inp] for sid, inp in steps}},
        )
