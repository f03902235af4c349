"""``devcontainer-lock.json``: read, generate and write it exactly as the reference CLI does.

* The file sits next to the config; for ``.devcontainer.json`` it is ``.devcontainer-lock.json``.
* Only OCI and tarball features are recorded (local folders are not), under the key the user wrote,
  sorted as JavaScript's ``localeCompare`` sorts them; features that came only from
  ``--additional-features`` are left out.
* Each entry: ``version``, ``resolved`` (``registry/path@sha256:...`` or the tarball URL),
  ``integrity`` (the manifest digest, or the tarball's sha256) and ``dependsOn`` when the feature has
  dependencies.
* Written as ``JSON.stringify(obj, null, 2) + "\\n"`` and only when the content changes; an existing
  file is compared after normalising it the same way. An empty file means "create it on the next
  build". ``--frozen-lockfile`` fails when the file is missing or would change.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.errors import LockfileError
from devenv.fsutil import atomic_write_text

# The order of ASCII characters under ICU's root collation (what Node's localeCompare uses).
_ICU_ORDER = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"
_PRIMARY = {ch: i for i, ch in enumerate(_ICU_ORDER)}


def locale_key(text: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """A sort key matching ``String.prototype.localeCompare``: letters before accents before case (lower first)."""
    primary: list[int] = []
    secondary: list[int] = []
    tertiary: list[int] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch):
            secondary.append(ord(ch))
            continue
        primary.append(_PRIMARY.get(ch.lower(), 1000 + ord(ch.lower())))
        secondary.append(0)
        tertiary.append(1 if ch.isupper() else 0)
    return tuple(primary), tuple(secondary), tuple(tertiary)


@dataclass(frozen=True)
class LockEntry:
    version: str
    resolved: str
    integrity: str
    depends_on: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "resolved": self.resolved, "integrity": self.integrity}
        if self.depends_on:
            out["dependsOn"] = list(self.depends_on)
        return out


@dataclass(frozen=True)
class Lockfile:
    features: tuple[tuple[str, LockEntry], ...] = ()

    def get(self, key: str) -> LockEntry | None:
        return dict(self.features).get(key)

    def to_json(self) -> dict[str, Any]:
        return {"features": {key: entry.to_json() for key, entry in self.features}}

    def render(self) -> str:
        return render_json(self.to_json())


@dataclass(frozen=True)
class LockedFeature:
    """What the lockfile needs to know about one resolved feature (in install order)."""

    user_key: str  # the id as the user wrote it in devcontainer.json (or as a dependency named it)
    source: str  # "oci", "tarball", "local"
    version: str
    resolved: str  # "registry/path@sha256:..." or the tarball URL
    integrity: str  # "sha256:..."
    depends_on: tuple[str, ...] = ()


def render_json(obj: Any) -> str:
    """``JSON.stringify(obj, null, 2) + "\\n"``."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def lockfile_path(config_path: Path) -> Path:
    name = ".devcontainer-lock.json" if config_path.name.startswith(".") else "devcontainer-lock.json"
    return config_path.parent / name


def generate(
    features: Iterable[LockedFeature],
    *,
    config_keys: Iterable[str] = (),
    additional_keys: Iterable[str] = (),
) -> Lockfile:
    configured = set(config_keys)
    excluded = {k for k in additional_keys if k not in configured}
    entries: dict[str, LockEntry] = {}
    for f in features:
        if f.source not in ("oci", "tarball") or f.user_key in excluded:
            continue
        entries[f.user_key] = LockEntry(f.version, f.resolved, f.integrity, f.depends_on)
    ordered = sorted(entries.items(), key=lambda kv: locale_key(kv[0]))
    return Lockfile(tuple(ordered))


@dataclass(frozen=True)
class ReadResult:
    lockfile: Lockfile | None  # None: no file, or an empty one
    init: bool = False  # an empty file: create it on the next build
    exists: bool = False


def parse(data: Mapping[str, Any], path: Path) -> Lockfile:
    features = data.get("features")
    if not isinstance(features, dict):
        raise LockfileError('"features" must be an object', path=path, remedy="delete the file to re-create it")
    entries: list[tuple[str, LockEntry]] = []
    for key, value in features.items():
        if not isinstance(value, dict):
            raise LockfileError(f'"features"["{key}"] must be an object', path=path)
        depends = value.get("dependsOn") or []
        entries.append(
            (
                key,
                LockEntry(
                    version=str(value.get("version", "")),
                    resolved=str(value.get("resolved", "")),
                    integrity=str(value.get("integrity", "")),
                    depends_on=tuple(str(d) for d in depends),
                ),
            )
        )
    return Lockfile(tuple(entries))


def read(path: Path) -> ReadResult:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ReadResult(None)
    except OSError as exc:
        raise LockfileError(f"cannot read the lockfile: {exc.strerror}", path=path) from None
    if not text.strip():
        return ReadResult(None, init=True, exists=True)
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        col = getattr(exc, "colno", None)
        raise LockfileError(
            f"the lockfile is not valid JSON ({getattr(exc, 'msg', exc)})",
            path=path,
            line=line,
            col=col,
            remedy="fix it, or delete it and build again to re-create it",
        ) from None
    if not isinstance(data, dict):
        raise LockfileError("the lockfile must hold a JSON object", path=path)
    return ReadResult(parse(data, path), exists=True)


def write(path: Path, lock: Lockfile, *, frozen: bool = False) -> bool:
    """Write ``lock`` when it differs from the file. Returns True when the file was written."""
    new_text = lock.render()
    try:
        old_text: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old_text = None
    if frozen and old_text is None:
        raise LockfileError(
            "Lockfile does not exist.",
            path=path,
            remedy="build once without --frozen-lockfile to create it, and commit it",
        )
    normalized = None
    if old_text is not None:
        try:
            normalized = render_json(json.loads(old_text))
        except ValueError:
            normalized = None
    if normalized == new_text:
        return False
    if frozen:
        raise LockfileError(
            "Lockfile does not match.",
            path=path,
            remedy="run `devenv build` without --frozen-lockfile (or `devenv upgrade`) and commit the new lockfile",
        )
    atomic_write_text(path, new_text)
    return True
