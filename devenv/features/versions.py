"""``devenv outdated`` and ``devenv upgrade``: the versions of a config's features, and a fresh lockfile.

* ``outdated``: for every OCI feature in ``features`` (config order; local and tarball features are
  left out), the registry's tags that are semantic versions are the published versions. ``current``
  is the lockfile's version, ``wanted`` the newest version the tag allows (``latest``: the newest of
  all), ``latest`` the newest published; ``wantedMajor``/``latestMajor`` their majors. Unknown
  values are left out of the JSON and shown as ``-`` in the table, as the reference CLI does.
* ``upgrade``: resolve the features again, ignoring the lockfile, and write the lockfile (or print
  it with ``--dry-run``). ``--feature ID --target-version X[.Y[.Z]]`` first re-targets that feature's
  key in devcontainer.json (``...:<version>``) — only keys written exactly as in the config, where
  the reference replaces the text as a pattern anywhere; the config is put back if resolving fails.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devenv.errors import ConfigError, DevenvError, UsageError
from devenv.events import NULL, Reporter
from devenv.features import lockfile as lf
from devenv.features import semver
from devenv.features.ref import parse_oci_ref

_LAST_DELIMITER = re.compile(r"[:@][^/]*$")
_TARGET_VERSION = re.compile(r"^\d+(\.\d+(\.\d+)?)?$")


def without_version(feature_id: str) -> str:
    """``registry/path/id`` without its ``:tag`` or ``@digest`` (the reference's regex)."""
    m = _LAST_DELIMITER.search(feature_id)
    return feature_id[: m.start()] if m else feature_id


@dataclass(frozen=True)
class VersionInfo:
    current: str | None = None
    wanted: str | None = None
    wanted_major: str | None = None
    latest: str | None = None
    latest_major: str | None = None

    def to_json(self) -> dict[str, str]:
        pairs = (
            ("current", self.current),
            ("wanted", self.wanted),
            ("wantedMajor", self.wanted_major),
            ("latest", self.latest),
            ("latestMajor", self.latest_major),
        )
        return {key: value for key, value in pairs if value is not None}


@dataclass(frozen=True)
class OutdatedResult:
    features: tuple[tuple[str, VersionInfo], ...] = ()  # (key as written, info), in config order

    def to_json(self) -> dict[str, Any]:
        return {"features": {key: info.to_json() for key, info in self.features}}

    def text(self) -> str:
        rows = [["Feature", "Current", "Wanted", "Latest"]]
        for key, info in self.features:
            rows.append([without_version(key)] + [v or "-" for v in (info.current, info.wanted, info.latest)])
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in rows)


def published_versions(resource: str, reporter: Reporter = NULL) -> list[str]:
    """The tags of ``registry/path`` that are semantic versions, newest first ([] when unreachable)."""
    from devenv.store.artifacts import list_tags

    try:
        tags = list_tags(resource)
    except DevenvError as exc:  # unreachable, unknown repository, refused: no versions, as the reference
        reporter.event("feature.tags", id=resource, error=exc.message, message=f"cannot list tags of {resource}: {exc}")
        return []
    ordered = sorted((t for t in tags if semver.valid(t)), key=functools.cmp_to_key(semver.compare))
    ordered.reverse()  # a stable ascending sort, reversed: as the reference lists them
    return ordered


def _version_of_digest(user_id: str, config_path: Path, workspace_folder: Path | None) -> str | None:
    from devenv.features.resolve import Fetcher

    fetcher = Fetcher(config_path=config_path, workspace_folder=workspace_folder, lock=None)
    try:
        version = fetcher.fetch(user_id).metadata.get("version")
    except DevenvError:
        return None
    return str(version) if version is not None else None


def _info(
    user_id: str, lock: lf.Lockfile | None, config_path: Path, workspace_folder: Path | None, reporter: Reporter
) -> VersionInfo | None:
    ref = parse_oci_ref(user_id)
    if ref is None:
        return None  # local folders, tarball URLs, legacy ids: not versioned
    versions = published_versions(ref.resource, reporter)
    entry = lock.get(user_id) if lock else None
    wanted = entry.version if entry else None
    if ref.tag == "latest":
        wanted = versions[0] if versions else None
    elif ref.tag:
        wanted = next((v for v in versions if semver.satisfies(v, ref.tag)), None)
    elif ref.digest and not wanted:
        wanted = _version_of_digest(user_id, config_path, workspace_folder)
    latest = versions[0] if versions else None
    return VersionInfo(
        current=(entry.version if entry and entry.version else None) or wanted,
        wanted=wanted,
        wanted_major=semver.major(wanted) if wanted else wanted,
        latest=latest,
        latest_major=semver.major(latest) if latest else None,
    )


def outdated(loaded: Any, *, reporter: Reporter = NULL) -> OutdatedResult:
    """Current, wanted and latest versions of the features of a loaded config (registries asked in parallel)."""
    features: Mapping[str, Any] = loaded.data.get("features") or {}
    if not isinstance(features, Mapping) or not features:
        return OutdatedResult()
    lock = lf.read(lf.lockfile_path(loaded.config_path)).lockfile
    keys = list(features)
    with ThreadPoolExecutor(max_workers=min(8, len(keys))) as pool:
        infos = list(pool.map(lambda k: _info(k, lock, loaded.config_path, loaded.workspace_folder, reporter), keys))
    return OutdatedResult(tuple((k, info) for k, info in zip(keys, infos, strict=True) if info is not None))


# --- upgrade -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpgradeResult:
    lockfile: lf.Lockfile
    lockfile_path: Path
    written: bool  # False with --dry-run
    config_changed: bool = False


def check_target(feature: str | None, target_version: str | None) -> None:
    if bool(feature) != bool(target_version):
        raise UsageError("The '--target-version' and '--feature' flag must be used together.")
    if target_version and not _TARGET_VERSION.match(target_version):
        raise UsageError(f"Invalid version '{target_version}'.  Must be in the form of 'x', 'x.y', or 'x.y.z'")


def retarget(text: str, keys: Sequence[str], feature: str, version: str) -> str:
    """``text`` with the first key naming ``feature`` (any version) re-targeted to ``feature:version``."""
    base = without_version(feature)
    for key in keys:
        if without_version(key) != base:
            continue
        old, new = json.dumps(key, ensure_ascii=False), json.dumps(f"{base}:{version}", ensure_ascii=False)
        return text.replace(old, new)
    return text


def upgrade(
    workspace_folder: str | None,
    config: str | None,
    *,
    dry_run: bool = False,
    feature: str | None = None,
    target_version: str | None = None,
    reporter: Reporter = NULL,
) -> UpgradeResult:
    from devenv.config import load
    from devenv.features.resolve import resolve_unpinned
    from devenv.fsutil import atomic_write_text

    check_target(feature, target_version)
    loaded = load(workspace_folder, config)
    original: str | None = None
    if feature and target_version:
        keys = list(loaded.data.get("features") or {})
        if not keys:
            reporter.event("upgrade.nothing", message=f"No Features found in '{loaded.config_path}'.")
        else:
            text = loaded.config_path.read_text(encoding="utf-8")
            updated = retarget(text, keys, feature, target_version)
            if updated != text:
                reporter.event(
                    "upgrade.config",
                    feature=feature,
                    version=target_version,
                    message=f"Updating '{without_version(feature)}' to '{target_version}' in {loaded.config_path}",
                )
                atomic_write_text(loaded.config_path, updated)
                original = text
                loaded = load(workspace_folder, config)
    try:
        features = dict(loaded.data.get("features") or {})
        if not features:
            raise ConfigError(
                "Failed to update lockfile: the configuration has no features",
                path=loaded.config_path,
                remedy='add features to "features" in devcontainer.json',
            )
        lock = resolve_unpinned(
            features,
            config_path=loaded.config_path,
            workspace_folder=loaded.workspace_folder,
            override_order=loaded.config.override_feature_install_order,
            config=loaded,
            reporter=reporter,
        )
    except BaseException:
        if original is not None:
            atomic_write_text(loaded.config_path, original)
        raise
    path = lf.lockfile_path(loaded.config_path)
    if not dry_run:
        atomic_write_text(path, lock.render())
    return UpgradeResult(lock, path, not dry_run, original is not None)
