"""Fetch the features a config asks for, pin them, and put them in install order (the I/O step).

Sources: OCI artifacts (config ``application/vnd.devcontainers``, one layer
``application/vnd.devcontainers.layer.v1+tar``, metadata in the ``dev.containers.metadata``
annotation; pulled into the content store, digests verified), ``https://`` tarballs
(``devcontainer-feature-<id>.tgz``; sha256 checked against the lockfile's integrity when there is one)
and local folders under ``.devcontainer/``. A lockfile entry pins an OCI feature to its recorded
manifest digest. Each fetched feature is extracted once into ``<data root>/build/features/<digest>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devenv.errors import ConfigError, ImageError, LockfileError, RegistryError
from devenv.events import NULL, Reporter
from devenv.features import lockfile as lf
from devenv.features.order import InstallStep, ResolvedFeature, install_order
from devenv.features.ref import FeatureRef, parse_feature_ref, user_features
from devenv.paths import data_root

METADATA_ANNOTATION = "dev.containers.metadata"
FEATURE_FILE = "devcontainer-feature.json"


@dataclass(frozen=True)
class FetchedFeature:
    ref: FeatureRef
    folder: Path  # the feature's files (extracted, or the local folder)
    metadata: Mapping[str, Any]  # devcontainer-feature.json
    digest: str | None  # OCI manifest digest / tarball sha256; None for local features
    content_digest: str  # digest of the files installed (for cache keys)
    resolved: str = ""  # what the lockfile records as "resolved"


@dataclass(frozen=True)
class Resolution:
    steps: tuple[InstallStep, ...]  # in install order
    fetched: Mapping[str, FetchedFeature] = field(default_factory=dict)  # by user id
    lockfile: lf.Lockfile | None = None
    lockfile_path: Path | None = None

    def fetched_for(self, step: InstallStep) -> FetchedFeature:
        return self.fetched[step.user_id]


def _read_json_file(path: Path) -> dict[str, Any]:
    from devenv.config import parse_jsonc

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{FEATURE_FILE} is missing", path=path, remedy="every feature folder needs a devcontainer-feature.json"
        ) from None
    doc = parse_jsonc(text, str(path))
    if not isinstance(doc.value, dict):
        raise ConfigError("a feature's metadata must be a JSON object", path=path)
    return dict(doc.value)


def tree_digest(folder: Path) -> str:
    from devenv.build.context import Context

    return Context(folder).select(".").digest()


def _extract(blob: Path, digest: str) -> Path:
    """Extract a feature tarball once into the cache, atomically."""
    root = data_root() / "build" / "features"
    dest = root / digest.split(":", 1)[-1]
    if dest.is_dir():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".x-", dir=root))
    try:
        with tarfile.open(blob, mode="r:*") as tar:
            tar.extractall(tmp, filter="data")
        try:
            tmp.rename(dest)
        except OSError:
            if not dest.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


class Fetcher:
    """Fetches and caches features for one resolution; ``resolve(user_id)`` is what install_order calls."""

    def __init__(
        self,
        *,
        config_path: Path | None,
        workspace_folder: Path | None,
        lock: lf.Lockfile | None,
        reporter: Reporter = NULL,
    ) -> None:
        self.config_path = config_path
        self.workspace_folder = workspace_folder
        self.lock = lock
        self.reporter = reporter
        self.fetched: dict[str, FetchedFeature] = {}

    def resolve(self, user_id: str) -> ResolvedFeature:
        if user_id not in self.fetched:
            self.fetched[user_id] = self.fetch(user_id)
        f = self.fetched[user_id]
        return ResolvedFeature(f.ref, f.digest, f.metadata)

    def fetch(self, user_id: str) -> FetchedFeature:
        ref = parse_feature_ref(
            user_id,
            config_path=str(self.config_path) if self.config_path else None,
            workspace_folder=str(self.workspace_folder) if self.workspace_folder else None,
        )
        pinned = self.lock.get(user_id) if self.lock else None
        self.reporter.event("feature.fetch", id=user_id, message=f"Fetching feature {user_id}")
        if ref.kind == "local":
            if ref.local_path is None:
                raise ConfigError(f"local feature {user_id!r} needs a config file path")
            folder = Path(ref.local_path)
            if not folder.is_dir():
                raise ConfigError(f"local feature folder {folder} does not exist", pointer=f"features[{user_id!r}]")
            return FetchedFeature(ref, folder, _read_json_file(folder / FEATURE_FILE), None, tree_digest(folder))
        if ref.kind == "oci" and ref.oci is not None:
            return self._oci(ref, pinned)
        if ref.kind == "tarball" and ref.tarball_url:
            return self._tarball(ref, pinned)
        raise ConfigError(
            f"feature {user_id!r}: GitHub-release features are not supported",
            pointer=f"features[{user_id!r}]",
            remedy="use the feature's OCI reference (ghcr.io/<owner>/<repo>/<id>:<version>)",
        )

    def _oci(self, ref: FeatureRef, pinned: lf.LockEntry | None) -> FetchedFeature:
        from devenv.store.store import Store

        assert ref.oci is not None
        oci = ref.oci
        pin = pinned.integrity if pinned and pinned.integrity else oci.digest
        store = Store()
        if pin:
            local = self._oci_in_store(ref, pin, store)
            if local is not None:
                return local
        from devenv.store.artifacts import fetch_artifact

        target = f"{oci.resource}@{pin}" if pin else f"{oci.resource}:{oci.tag or 'latest'}"
        try:
            artifact = fetch_artifact(target, store=store, reporter=self.reporter)
        except RegistryError as exc:
            raise RegistryError(
                f"cannot fetch feature {ref.user_id}: {exc.message}",
                remedy=exc.remedy or "check the reference, the registry and your credentials (docker login)",
            ) from None
        digest = artifact.descriptor.digest
        if not artifact.layer_paths:
            raise RegistryError(f"feature {ref.user_id}: the artifact {digest} has no layer")
        folder = _extract(artifact.layer_paths[0], artifact.manifest.layers[0].digest)
        return self._oci_feature(ref, digest, artifact.manifest, folder)

    def _oci_in_store(self, ref: FeatureRef, digest: str, store: Any) -> FetchedFeature | None:
        """A feature pinned by digest that an earlier fetch left in the store: no registry round trip."""
        from devenv.oci.manifest import Manifest

        if not store.blobs.has(digest):
            return None
        try:
            manifest = Manifest.parse(store.blobs.read_bytes(digest))
        except (ImageError, OSError):  # not a manifest we can read: let the registry path report it
            return None
        if not manifest.layers:
            return None
        layer = manifest.layers[0].digest
        folder = data_root() / "build" / "features" / layer.split(":", 1)[-1]
        if not folder.is_dir():
            if not store.blobs.has(layer):
                return None
            folder = _extract(store.blobs.path(layer), layer)
        return self._oci_feature(ref, digest, manifest, folder)

    def _oci_feature(self, ref: FeatureRef, digest: str, manifest: Any, folder: Path) -> FetchedFeature:
        assert ref.oci is not None
        metadata: dict[str, Any] = {}
        if (folder / FEATURE_FILE).is_file():
            metadata = _read_json_file(folder / FEATURE_FILE)
        else:
            with contextlib.suppress(ValueError):
                metadata = dict(json.loads(manifest.annotations.get(METADATA_ANNOTATION, "")))
        if not metadata:
            raise ConfigError(f"feature {ref.user_id}: no {FEATURE_FILE} in the artifact and no metadata annotation")
        resolved = f"{ref.oci.registry}/{ref.oci.path}@{digest}"
        return FetchedFeature(ref, folder, metadata, digest, manifest.layers[0].digest, resolved)

    def _tarball(self, ref: FeatureRef, pinned: lf.LockEntry | None) -> FetchedFeature:
        import httpx

        url = ref.tarball_url or ""
        try:
            response = httpx.get(url, follow_redirects=True, timeout=60.0, headers={"user-agent": "devenv"})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise RegistryError(f"cannot download feature {ref.user_id}: {exc}") from None
        data = response.content
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if pinned and pinned.integrity and pinned.integrity != digest:
            raise LockfileError(
                f"Digest did not match for {url}: the lockfile pins {pinned.integrity}, the download is {digest}",
                remedy="if the new tarball is trusted, run `devenv upgrade` to update the lockfile",
            )
        root = data_root() / "build" / "features"
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, suffix=".tgz", delete=False) as f:
            f.write(data)
            blob = Path(f.name)
        try:
            folder = _extract(blob, digest)
        finally:
            with contextlib.suppress(OSError):
                blob.unlink()
        return FetchedFeature(ref, folder, _read_json_file(folder / FEATURE_FILE), digest, digest, url)


def resolve_features(
    features: Mapping[str, Any],
    *,
    config_path: Path | None,
    workspace_folder: Path | None,
    additional: Mapping[str, Any] | None = None,
    override_order: Sequence[str] | None = None,
    use_lockfile: bool = True,
    frozen: bool = False,
    config: Any = None,
    reporter: Reporter = NULL,
) -> Resolution:
    """Fetch, order and pin. Writes the lockfile (when ``use_lockfile``) as the reference does."""
    combined = dict(features)
    for key, value in (additional or {}).items():
        combined.setdefault(key, value)
    if not combined:
        return Resolution(())
    lock_path = lf.lockfile_path(config_path) if config_path is not None else None
    lock = lf.read(lock_path).lockfile if (use_lockfile and lock_path is not None) else None
    fetcher = Fetcher(config_path=config_path, workspace_folder=workspace_folder, lock=lock, reporter=reporter)
    steps = install_order(user_features(combined), fetcher.resolve, override_order, config=config)
    new_lock = None
    if use_lockfile and lock_path is not None:
        new_lock = lf.generate(
            locked_features(steps, fetcher.fetched),
            config_keys=features.keys(),
            additional_keys=(additional or {}).keys(),
        )
        lf.write(lock_path, new_lock, frozen=frozen)
    return Resolution(tuple(steps), dict(fetcher.fetched), new_lock, lock_path)


def locked_features(steps: Sequence[InstallStep], fetched: Mapping[str, FetchedFeature]) -> list[lf.LockedFeature]:
    """What the lockfile records of each installed feature, in install order."""
    locked = []
    for step in steps:
        f = fetched[step.user_id]
        depends = tuple((f.metadata.get("dependsOn") or {}).keys())
        source = {"oci": "oci", "tarball": "tarball"}.get(f.ref.kind, "local")
        locked.append(
            lf.LockedFeature(
                step.user_id, source, str(f.metadata.get("version", "")), f.resolved.lower(), f.digest or "", depends
            )
        )
    return locked


def resolve_unpinned(
    features: Mapping[str, Any],
    *,
    config_path: Path | None,
    workspace_folder: Path | None,
    override_order: Sequence[str] | None = None,
    config: Any = None,
    reporter: Reporter = NULL,
) -> lf.Lockfile:
    """The lockfile the config resolves to now, ignoring the existing one (what ``upgrade`` writes)."""
    if not features:
        return lf.Lockfile()
    fetcher = Fetcher(config_path=config_path, workspace_folder=workspace_folder, lock=None, reporter=reporter)
    steps = install_order(user_features(features), fetcher.resolve, override_order, config=config)
    return lf.generate(locked_features(steps, fetcher.fetched))
