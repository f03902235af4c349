"""``read-configuration``: the reference tool's JSON shape, computed from :func:`devenv.config.load`.

``{"configuration": {...config after substitution..., "configFilePath": {URI}},
"workspace": {"workspaceFolder", "workspaceMount", "additionalMountString"?}, "featuresConfiguration"?,
"mergedConfiguration"?}``, made in the reference's steps:

1. The workspace folder: ``--workspace-folder``, else the current directory — unless ``--container-id``
   or ``--id-label`` is given (then there may be none: ``${localWorkspaceFolder}`` stays as written).
2. The config: ``--config``, else the workspace's; ``--override-config`` is read instead of it (see
   :func:`devenv.config.load`). With neither a folder nor a config, ``configuration`` is ``{}`` and
   there is no ``workspace`` object.
3. The container: ``--container-id``, else the one with the id labels (``--id-label``, else the workspace
   folder + config file; then the folder alone, for a container older than the config-file label).
   When there is one, ``configuration`` gets phase 2 (``${devcontainerId}`` of the id labels) and phase 3
   (``${containerEnv:...}`` from the container's environment); ``workspace`` keeps phase 1 only.
4. ``featuresConfiguration``: with ``--include-features-configuration``, or for the merged configuration
   when there is no container; ``--additional-features`` come after the config's own.
5. ``mergedConfiguration``: with a container, its ``devcontainer.metadata`` label — plus devcontainer.json's
   ``remoteUser``, ``userEnvProbe`` and ``remoteEnv`` when it carries the id labels, else plus the
   features and devcontainer.json; without, the base image's label + the features + devcontainer.json.

The container, the image label and the features come from providers (I/O at the edge):
:class:`devenv.config.sources.WorkspaceSources` and :func:`resolved_features`; ``devenv.api`` wires them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from devenv.config.loader import LoadedConfig, load
from devenv.config.validate import ConfigWarning

LOCAL_FOLDER_LABEL = "devcontainer.local_folder"
CONFIG_FILE_LABEL = "devcontainer.config_file"
METADATA_LABEL = "devcontainer.metadata"
UPDATABLE_PROPERTIES = ("remoteUser", "userEnvProbe", "remoteEnv")
"""What a container's metadata takes from the current devcontainer.json (the rest needs a new container)."""


@dataclass(frozen=True)
class ReadConfigurationOptions:
    workspace_folder: str | None = None
    config: str | None = None
    include_merged_configuration: bool = False
    include_features_configuration: bool = False
    mount_workspace_git_root: bool = True
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    override_config: str | None = None
    id_labels: tuple[str, ...] = ()  # "name=value"
    container_id: str | None = None
    additional_features: Mapping[str, Any] | None = None  # like "features"
    mount_git_worktree_common_dir: bool = False
    runtime: str | None = None  # devenv's: where the container and images are (default: the workspace's)


@dataclass(frozen=True)
class ReadConfigurationResult:
    output: dict[str, Any]
    loaded: LoadedConfig | None  # None when there is no config (only --id-label / --container-id)
    warnings: tuple[ConfigWarning, ...] = field(default=())
    container: WorkspaceContainer | None = None


@dataclass(frozen=True)
class WorkspaceContainer:
    """A workspace's container as read-configuration sees it."""

    id: str
    labels: Mapping[str, str]
    env: tuple[str, ...] = ()  # its configured environment ("KEY=VALUE", the image's first)


FeaturesProvider = Callable[
    [LoadedConfig, "Mapping[str, Any] | None"], tuple[list[dict[str, Any]], dict[str, Any] | None]
]
"""Given a loaded config and the additional features: (metadata entries of the features in install order,
already through the local substitution phase; the ``featuresConfiguration`` object to print or ``None``)."""

ImageMetadataProvider = Callable[[LoadedConfig], list[dict[str, Any]]]
"""Given a loaded config: the ``devcontainer.metadata`` entries of its base image, as in the label."""

ContainerFinder = Callable[[Mapping[str, str], str | None], WorkspaceContainer | None]
"""Given the id labels and ``--container-id``: that container (an error when it does not exist), else the
newest container with all the labels, else ``None``."""


def config_file_uri(path: str, located: bool) -> dict[str, Any]:
    """The reference prints ``configFilePath`` as a VS Code URI object."""
    return {"$mid": 1, "fsPath": path, "path": path, "scheme": "vscode-fileHost" if located else "file"}


def parse_additional_features(text: str) -> dict[str, Any]:
    """``--additional-features``: a JSON (with comments) object like ``"features"``."""
    from devenv.config import jsonc
    from devenv.errors import UsageError

    value = jsonc.parse(text, "--additional-features").value
    if not isinstance(value, dict):
        raise UsageError(
            '--additional-features must be a JSON object like "features"',
            remedy="""e.g. --additional-features '{"ghcr.io/devcontainers/features/git:1": {}}'""",
        )
    return value


def env_dict(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``["A=1", "B=x=y"]`` → ``{"A": "1", "B": "x=y"}``; an entry without ``=`` maps to ``""``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = value
    return out


def read_configuration(
    options: ReadConfigurationOptions,
    features: FeaturesProvider | None = None,
    image_metadata: ImageMetadataProvider | None = None,
    container: ContainerFinder | None = None,
) -> ReadConfigurationResult:
    """The reference's ``read-configuration`` output. A missing provider counts as finding nothing: no
    features (``featuresConfiguration`` left out), no image label, no container."""
    cwd = options.cwd or os.getcwd()
    folder = options.workspace_folder
    if folder is None and options.container_id is None and not options.id_labels:
        folder = cwd
    from devenv.workspace.identity import parse_id_labels  # (one parser of --id-label for every command)

    provided_labels = parse_id_labels(options.id_labels) if options.id_labels else None
    folder_path = os.path.normpath(os.path.join(cwd, folder)) if folder is not None else None
    loaded: LoadedConfig | None = None
    if folder is not None or options.config is not None or options.override_config is not None:
        loaded = load(
            folder,
            options.config,
            env=options.env,
            mount_git_root=options.mount_workspace_git_root,
            mount_git_worktree_common_dir=options.mount_git_worktree_common_dir,
            override_config=options.override_config,
            cwd=cwd,
        )
    data: dict[str, Any] = dict(loaded.data) if loaded is not None else {}

    # The container, and the id labels that name it.
    config_file = str(loaded.config_path) if loaded is not None else None
    labels = provided_labels or _default_labels(folder_path, config_file)
    found: WorkspaceContainer | None = None
    if container is not None:
        found = container(labels, options.container_id)
        if provided_labels is None and options.container_id is None and found is None:
            # A container made before the config-file label existed (unless it has one: that is another config's).
            old = {LOCAL_FOLDER_LABEL: labels[LOCAL_FOLDER_LABEL]}
            legacy = container(old, None)
            if legacy is not None and CONFIG_FILE_LABEL not in legacy.labels:
                found = legacy
        if provided_labels is None and found is not None and CONFIG_FILE_LABEL not in found.labels:
            labels = {LOCAL_FOLDER_LABEL: labels[LOCAL_FOLDER_LABEL]}
    container_env = env_dict(found.env) if found is not None else {}

    def substitute_container(value: Any) -> Any:
        from devenv.config import substitute

        value = substitute.substitute_devcontainer_id(value, labels)
        return substitute.substitute_container_env(value, container_env, config_file=config_file)

    if found is not None and loaded is not None:
        from devenv.config import model, substitute

        data = substitute.substitute_devcontainer_id(data, labels)
        data = substitute.substitute_container_env(data, container_env, config_file=config_file, doc=loaded.document)
        # What the features are read from; the workspace object stays as phase 1 left it, as in the reference.
        loaded = replace(loaded, data=data, config=model.from_json(data))

    configuration = dict(data)
    if loaded is not None:
        located = options.config is None and folder is not None  # found in (or defaulted to) the workspace
        configuration["configFilePath"] = config_file_uri(str(loaded.config_path), located)
    output: dict[str, Any] = {"configuration": configuration}
    if loaded is not None:
        output["workspace"] = loaded.workspace.to_json()

    feature_entries: list[dict[str, Any]] = []
    if options.include_features_configuration or (options.include_merged_configuration and found is None):
        features_json: dict[str, Any] | None = None
        if features is not None and loaded is not None:
            feature_entries, features_json = features(loaded, options.additional_features)
            if found is not None:
                feature_entries = [substitute_container(e) for e in feature_entries]
        if options.include_features_configuration and features_json is not None:
            output["featuresConfiguration"] = features_json

    if options.include_merged_configuration:
        from devenv.config.merge import config_metadata_entry, merge_entries, parse_metadata_label

        substitute_local = loaded.substitute_local if loaded is not None else _env_only(options.env)
        if found is not None:
            label = found.labels.get(METADATA_LABEL)
            base = [substitute_container(substitute_local(e)) for e in parse_metadata_label(label)]
            if label and all(found.labels.get(k) for k in labels):
                own = {k: configuration[k] for k in UPDATABLE_PROPERTIES if k in configuration}
                entries = [*base, own]
            else:
                entries = [*base, *feature_entries, config_metadata_entry(configuration)]
            entries = [substitute_container(e) for e in entries]
        else:
            if loaded is None:
                from devenv.errors import ConfigError

                raise ConfigError(
                    "no dev container config: the merged configuration needs one (or a container)",
                    remedy="pass --workspace-folder or --config",
                )
            raw = image_metadata(loaded) if image_metadata is not None else []
            base = [substitute_local(e) for e in raw]
            entries = [*base, *feature_entries, config_metadata_entry(configuration)]
        output["mergedConfiguration"] = merge_entries(configuration, [e for e in entries if e])
    warnings = loaded.warnings if loaded is not None else ()
    return ReadConfigurationResult(output=output, loaded=loaded, warnings=warnings, container=found)


def _default_labels(folder: str | None, config_file: str | None) -> dict[str, str]:
    """The id labels inferred from the workspace. The reference writes a missing folder or config file as
    ``undefined`` (JavaScript template strings), so ``--container-id`` without a workspace gets the same
    ``${devcontainerId}`` from both tools."""
    return {
        LOCAL_FOLDER_LABEL: folder if folder is not None else "undefined",
        CONFIG_FILE_LABEL: config_file if config_file is not None else "undefined",
    }


def _env_only(env: Mapping[str, str] | None) -> Callable[[Any], Any]:
    """Phase 1 with only the host environment (no config: no workspace folders)."""
    from devenv.config.substitute import LocalContext, substitute_local

    context = LocalContext(env=os.environ if env is None else env)
    return lambda value: substitute_local(value, context)


def resolved_features(
    loaded: LoadedConfig, additional: Mapping[str, Any] | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The default :data:`FeaturesProvider`: fetch and order the config's features (then the additional
    ones it does not have) with :mod:`devenv.features.resolve`, without touching the lockfile, and describe
    them like the reference."""
    features = loaded.data.get("features")
    features = features if isinstance(features, dict) else {}
    if not features and not additional:
        return [], None
    from devenv.config.merge import feature_metadata_entry
    from devenv.features.resolve import resolve_features
    from devenv.paths import data_root

    order = loaded.config.override_feature_install_order
    resolution = resolve_features(
        features,
        additional=additional,
        config_path=loaded.config_path,
        workspace_folder=loaded.workspace_folder,
        override_order=order,
        use_lockfile=False,
        config=loaded,
    )
    entries: list[dict[str, Any]] = []
    feature_sets: list[dict[str, Any]] = []
    for index, step in enumerate(resolution.steps):
        fetched = resolution.fetched_for(step)
        metadata = dict(fetched.metadata)
        entries.append(loaded.substitute_local(feature_metadata_entry(metadata, step.user_id)))
        feature_id = str(metadata.get("id") or fetched.ref.id)
        # The reference's feature object is the metadata overlaid with what it parsed from the reference:
        # {id, name, value, included} for local, tarball and GitHub features, {id, included, value} for OCI.
        feature: dict[str, Any] = dict(metadata)
        if fetched.ref.kind == "oci":
            feature.update({"included": True, "value": step.options})
        else:
            feature.setdefault("name", step.user_id)
            feature.update({"value": step.options, "included": True})
        feature.update({"cachePath": str(fetched.folder), "consecutiveId": f"{feature_id}_{index}"})
        feature_set: dict[str, Any] = {
            "sourceInformation": _source_information(step.user_id, fetched),
            "features": [feature],
            "internalVersion": "2",
        }
        if fetched.ref.kind in ("oci", "tarball") and fetched.digest:
            feature_set["computedDigest"] = fetched.digest  # manifest digest / sha256 of the tarball
        feature_sets.append(feature_set)
    return entries, {"featureSets": feature_sets, "dstFolder": str(data_root() / "build" / "features")}


def _source_information(user_id: str, fetched: Any) -> dict[str, Any]:
    ref = fetched.ref
    if ref.kind == "local":
        return {"type": "file-path", "resolvedFilePath": str(fetched.folder), "userFeatureId": user_id}
    if ref.kind == "tarball":
        return {"type": "direct-tarball", "tarballUri": ref.tarball_url, "userFeatureId": user_id}
    if ref.kind == "oci" and ref.oci is not None:
        oci = ref.oci
        feature_ref = {
            "scheme": _registry_scheme(oci.registry),
            "id": oci.id,
            "owner": oci.owner,
            "namespace": oci.namespace,
            "registry": oci.registry,
            "resource": oci.resource,
            "path": oci.path,
            "version": oci.version,
            **({"tag": oci.tag} if oci.tag else {}),
            **({"digest": oci.digest} if oci.digest else {}),
        }
        manifest = _stored_manifest(fetched.digest)
        return {
            "type": "oci",
            **({"manifest": manifest} if manifest is not None else {}),
            "manifestDigest": fetched.digest,
            "featureRef": feature_ref,
            "userFeatureId": user_id,
            "userFeatureIdWithoutVersion": ref.without_version,
        }
    return {"type": "github-repo", "userFeatureId": user_id, "userFeatureIdWithoutVersion": ref.without_version}


def _registry_scheme(registry: str) -> str:
    """How the reference talks to a registry: plain HTTP to ``localhost`` only."""
    from urllib.parse import urlsplit

    try:
        host = urlsplit(f"https://{registry}").hostname or ""
    except ValueError:
        host = ""
    return "http" if host == "localhost" else "https"


def _stored_manifest(digest: str | None) -> Any:
    """The feature's OCI manifest as the registry sent it (the store keeps it by digest)."""
    if not digest:
        return None
    import json

    from devenv.errors import DevenvError
    from devenv.store.store import Store

    try:
        return json.loads(Store().blobs.read_bytes(digest))
    except (OSError, ValueError, LookupError, DevenvError):  # not kept (or damaged): left out
        return None
