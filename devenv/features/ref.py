"""Feature references: parse, normalise, classify; feature options and their environment names.

A key of ``features`` in devcontainer.json is one of (DIGEST §4):

* **OCI** ``registry/namespace/id[:tag|@sha256:digest]`` — lower-cased; no tag means ``latest``; the
  tag is split at the last ``:`` only when it comes after the last ``/`` (registry ports survive);
  ``devcontainers-contrib`` is redirected to ``devcontainers-extra`` like the reference does.
* **tarball** ``https://.../devcontainer-feature-<id>.tgz``.
* **local** ``./path`` (or ``../path``) relative to devcontainer.json, which must resolve inside the
  workspace's ``.devcontainer/`` folder; absolute paths are refused.
* **github** (deprecated) ``owner/repo/id[@tag]`` — a first segment that is not a registry host.
* **legacy** bare ids (``node``, ``golang``, ``common``...) are mapped to
  ``ghcr.io/devcontainers/features/<id>:1``; ``gradle``/``maven``/``jupyterlab`` become options of
  java/python (:func:`user_features`); any other bare id is an error.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from devenv.errors import ConfigError

FeatureKind = Literal["oci", "tarball", "local", "github"]
FeatureValue = str | bool | Mapping[str, Any]
"""A ``features`` entry as written: ``{}``/``{"opt": v}``, a version string, or ``true``."""

NEW_FEATURE_PATH = "ghcr.io/devcontainers/features"
_MIGRATED = frozenset(
    [
        "aws-cli",
        "azure-cli",
        "desktop-lite",
        "docker-in-docker",
        "docker-from-docker",
        "dotnet",
        "git",
        "git-lfs",
        "github-cli",
        "java",
        "kubectl-helm-minikube",
        "node",
        "powershell",
        "python",
        "ruby",
        "rust",
        "sshd",
        "terraform",
    ]
)
_RENAMED = {"golang": "go", "common": "common-utils"}
_INTO_OPTIONS = {
    "gradle": ("java", {"installGradle": True}),
    "maven": ("java", {"installMaven": True}),
    "jupyterlab": ("python", {"installJupyterlab": True}),
}
_PATH_RE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_ID_RE = re.compile(r"^[a-zA-Z0-9_-]*$")
_TGZ_RE = re.compile(r"devcontainer-feature-(.*).tgz")


@dataclass(frozen=True)
class OciRef:
    """An OCI feature reference, as the reference tool's ``getRef`` splits it."""

    registry: str  # ghcr.io
    owner: str  # devcontainers
    namespace: str  # devcontainers/features
    path: str  # devcontainers/features/go
    resource: str  # ghcr.io/devcontainers/features/go
    id: str  # go
    version: str  # the tag or the digest
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest if pinned, else the tag."""
        return self.digest or self.tag or "latest"


@dataclass(frozen=True)
class GithubRef:
    owner: str
    repo: str
    tag: str | None  # None = latest release


@dataclass(frozen=True)
class FeatureRef:
    """A parsed ``features`` key. ``user_id`` is the key exactly as written."""

    user_id: str
    kind: FeatureKind
    id: str
    oci: OciRef | None = None
    tarball_url: str | None = None
    local_path: str | None = None  # absolute folder of a local feature
    github: GithubRef | None = None
    mapped_id: str | None = None  # the id after legacy auto-mapping, when it changed

    @property
    def without_version(self) -> str:
        """The reference without tag/digest (how ``installsAfter`` and overrides match)."""
        if self.oci is not None:
            return self.oci.resource
        if self.kind == "github":
            return self.user_id.split("@")[0]
        return self.user_id


def legacy_feature_id(feature_id: str) -> str:
    """Map an old short id (``node``, ``golang``...) to its ``ghcr.io/devcontainers/features/<id>:1`` name."""
    if feature_id in _MIGRATED:
        return f"{NEW_FEATURE_PATH}/{feature_id}:1"
    if feature_id in _RENAMED:
        return f"{NEW_FEATURE_PATH}/{_RENAMED[feature_id]}:1"
    return feature_id


def parse_oci_ref(text: str) -> OciRef | None:
    """``getRef``: lower-case, split tag/digest, validate; ``None`` when it is not a valid OCI reference."""
    text = text.lower()
    if text.startswith("."):
        return None
    last_colon = text.rfind(":")
    last_at = text.rfind("@")
    tag: str | None = None
    digest: str | None = None
    if last_at != -1:
        resource = text[:last_at]
        algorithm, sep, hex_part = text[last_at + 1 :].partition(":")
        if not sep or ":" in hex_part or algorithm != "sha256":
            return None
        digest = f"{algorithm}:{hex_part}"
    elif last_colon != -1 and last_colon > text.rfind("/"):
        resource, tag = text[:last_colon], text[last_colon + 1 :]
    else:
        resource, tag = text, "latest"
    if tag is not None and not _TAG_RE.match(tag):
        return None
    parts = resource.split("/")
    if len(parts) > 1 and parts[1] == "devcontainers-contrib":
        parts[1] = "devcontainers-extra"
    feature_id = parts[-1]
    namespace = "/".join(parts[1:-1])
    path = f"{namespace}/{feature_id}"
    if not _PATH_RE.match(path):
        return None
    owner = parts[1] if len(parts) > 1 else ""
    return OciRef(parts[0], owner, namespace, path, resource, feature_id, digest or tag or "latest", tag, digest)


def _looks_like_registry(host: str) -> bool:
    return "." in host or ":" in host or host == "localhost"


def parse_feature_ref(
    user_id: str,
    *,
    config_path: str | None = None,
    workspace_folder: str | None = None,
    auto_map: bool = True,
) -> FeatureRef:
    """Classify and parse a ``features`` key; :class:`ConfigError` says what is wrong and what to write.

    ``config_path`` (devcontainer.json) and ``workspace_folder`` are needed for local features.
    """
    mapped = legacy_feature_id(user_id) if auto_map else user_id
    mapped_id = mapped if mapped != user_id else None
    if "/" not in mapped and "\\" not in mapped:
        raise ConfigError(
            f"legacy feature '{user_id}' is not supported",
            pointer=f"features[{user_id!r}]",
            remedy="use a published feature such as ghcr.io/devcontainers/features/<id>:1 "
            '(see https://containers.dev/features), or a local one as "./<folder>"',
        )
    if mapped.startswith("https://"):
        return _parse_tarball(user_id, mapped)
    if mapped.startswith(("./", "../", "/")):
        return _parse_local(user_id, mapped, config_path, workspace_folder)
    first = mapped.split("/", 1)[0]
    oci = parse_oci_ref(mapped) if _looks_like_registry(first) else None
    if oci is not None:
        return FeatureRef(user_id, "oci", oci.id, oci=oci, mapped_id=mapped_id)
    return _parse_github(user_id, mapped)


def _parse_tarball(user_id: str, url: str) -> FeatureRef:
    path = urlsplit(url).path
    name = path[path.rfind("/") + 1 :]
    match = _TGZ_RE.search(name)
    if not match:
        raise ConfigError(
            f"the tarball name '{name}' does not follow 'devcontainer-feature-<id>.tgz'",
            pointer=f"features[{user_id!r}]",
            remedy="point at a file named devcontainer-feature-<id>.tgz",
        )
    feature_id = match.group(1)
    if not feature_id or not _ID_RE.match(feature_id):
        raise ConfigError(
            f"the feature id '{feature_id}' in '{name}' may only hold letters, digits, '-' and '_'",
            pointer=f"features[{user_id!r}]",
        )
    return FeatureRef(user_id, "tarball", feature_id, tarball_url=url)


def _parse_local(user_id: str, ref: str, config_path: str | None, workspace_folder: str | None) -> FeatureRef:
    pointer = f"features[{user_id!r}]"
    if ref.startswith("/"):
        raise ConfigError(
            "a local feature cannot be an absolute path",
            pointer=pointer,
            remedy='put the feature in a folder under .devcontainer/ and write "./<folder>"',
        )
    feature_id = posixpath.basename(ref.rstrip("/"))
    if config_path is None:
        return FeatureRef(user_id, "local", feature_id)
    folder = posixpath.normpath(posixpath.join(posixpath.dirname(config_path), ref))
    root = posixpath.join(workspace_folder or posixpath.dirname(posixpath.dirname(config_path)), ".devcontainer")
    relative = posixpath.relpath(folder, root)
    if relative == ".." or relative.startswith("../"):
        raise ConfigError(
            f"a local feature must be inside the .devcontainer/ folder; '{ref}' resolves to {folder}",
            pointer=pointer,
            remedy=f"move the feature under {root}/",
        )
    return FeatureRef(user_id, "local", feature_id, local_path=folder)


def _parse_github(user_id: str, ref: str) -> FeatureRef:
    pointer = f"features[{user_id!r}]"
    blob, at, tag = ref.partition("@")
    if "@" in tag:
        raise ConfigError("use '@' only once, to give a release tag", pointer=pointer)
    parts = blob.split("/")
    if len(parts) != 3 or any(not p for p in parts) or not _ID_RE.match(parts[2]):
        raise ConfigError(
            f"cannot resolve the feature '{user_id}': not an OCI reference (registry/namespace/id[:tag]), "
            "a https:// tarball or a ./local folder",
            pointer=pointer,
            remedy="write a reference such as ghcr.io/devcontainers/features/node:1",
        )
    return FeatureRef(user_id, "github", parts[2], github=GithubRef(parts[0], parts[1], tag if at else None))


def user_features(features: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The ``features`` object as ``(user id, value)`` pairs, with ``gradle``/``maven``/``jupyterlab``
    turned into options of the java/python features (added as ``...:1`` when not already there)."""
    pairs: list[list[Any]] = [[key, value] for key, value in features.items()]
    for old, (target, options) in _INTO_OPTIONS.items():
        if not any(key == old for key, _ in pairs):
            continue
        qualified = f"{NEW_FEATURE_PATH}/{target}"
        for pair in pairs:
            key = pair[0]
            if key in (target, qualified) or key.startswith(f"{qualified}:"):
                value = pair[1]
                base = (
                    dict(value) if isinstance(value, Mapping) else {"version": value} if isinstance(value, str) else {}
                )
                pair[1] = {**base, **options}
                break
        else:
            pairs.append([f"{qualified}:1", dict(options)])
    return [(key, value) for key, value in pairs if key not in _INTO_OPTIONS]


def option_env_name(name: str) -> str:
    """An option (or feature) id as an environment variable name, exactly as the reference does it:
    non-word characters become ``_``, a leading run of digits/underscores becomes one ``_``, upper case."""
    safe = re.sub(r"[^\w]", "_", name, flags=re.ASCII)
    safe = re.sub(r"^[\d_]+", "_", safe, flags=re.ASCII)
    return safe.upper()


def feature_options(value: Any, declared: Mapping[str, Any] | None) -> dict[str, Any]:
    """The option values a feature is installed with: declared defaults, overlaid with the user's value.

    A string (or ``true``) stands for ``{"version": value}`` when the feature declares a ``version``
    option; otherwise only the defaults apply.
    """
    declared = declared or {}
    defaults = {
        key: spec["default"] for key, spec in declared.items() if isinstance(spec, Mapping) and "default" in spec
    }
    if isinstance(value, Mapping):
        return {**defaults, **value}
    if not declared.get("version"):
        return defaults
    return {**defaults, "version": value}


def option_env(values: Mapping[str, Any]) -> dict[str, str]:
    """``{ENV_NAME: text}`` for ``devcontainer-features.env`` (values as JavaScript writes them)."""
    from devenv.config.validate import js_string

    return {option_env_name(key): js_string(value) for key, value in values.items()}
