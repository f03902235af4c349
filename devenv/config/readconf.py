"""``read-configuration``: the reference tool's JSON shape, computed from :func:`devenv.config.load`.

``{"configuration": {...config after local substitution..., "configFilePath": {URI}},
"workspace": {"workspaceFolder", "workspaceMount"}, "featuresConfiguration"?, "mergedConfiguration"?}``
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devenv.config.loader import LoadedConfig, load
from devenv.config.validate import ConfigWarning


@dataclass(frozen=True)
class ReadConfigurationOptions:
    workspace_folder: str | None = None
    config: str | None = None
    include_merged_configuration: bool = False
    include_features_configuration: bool = False
    mount_workspace_git_root: bool = True
    env: Mapping[str, str] | None = None
    cwd: str | None = None


@dataclass(frozen=True)
class ReadConfigurationResult:
    output: dict[str, Any]
    loaded: LoadedConfig
    warnings: tuple[ConfigWarning, ...] = field(default=())


FeaturesProvider = Callable[[LoadedConfig], tuple[list[dict[str, Any]], dict[str, Any] | None]]
"""Given a loaded config: (metadata entries of its features in install order, the
``featuresConfiguration`` object to print or ``None``). Supplied by the feature resolver."""


def config_file_uri(path: str, located: bool) -> dict[str, Any]:
    """The reference prints ``configFilePath`` as a VS Code URI object."""
    return {"$mid": 1, "fsPath": path, "path": path, "scheme": "vscode-fileHost" if located else "file"}


ImageMetadataProvider = Callable[[LoadedConfig], list[dict[str, Any]]]
"""Given a loaded config: the ``devcontainer.metadata`` entries of its base image (already
substituted with :meth:`LoadedConfig.substitute_local`). Supplied by the image store/builder."""


def read_configuration(
    options: ReadConfigurationOptions,
    features: FeaturesProvider | None = None,
    image_metadata: ImageMetadataProvider | None = None,
) -> ReadConfigurationResult:
    """The reference's ``read-configuration`` output. Without providers, features and image metadata
    are taken as empty (``featuresConfiguration`` is then left out, like a config without features)."""
    folder = options.workspace_folder
    if folder is None and options.config is None:
        folder = options.cwd or os.getcwd()
    if folder is None:
        # The reference defaults the workspace folder to the current directory in read-configuration.
        folder = options.cwd or os.getcwd()
    loaded = load(
        folder,
        options.config,
        env=options.env,
        mount_git_root=options.mount_workspace_git_root,
        cwd=options.cwd,
    )
    configuration = dict(loaded.data)
    configuration["configFilePath"] = config_file_uri(str(loaded.config_path), options.config is None)
    output: dict[str, Any] = {"configuration": configuration, "workspace": loaded.workspace.to_json()}
    if options.include_features_configuration or options.include_merged_configuration:
        feature_entries: list[dict[str, Any]] = []
        features_json: dict[str, Any] | None = None
        if features is not None:
            feature_entries, features_json = features(loaded)
        if options.include_features_configuration and features_json is not None:
            output["featuresConfiguration"] = features_json
        if options.include_merged_configuration:
            from devenv.config.merge import merge_metadata

            base = image_metadata(loaded) if image_metadata is not None else []
            merged = merge_metadata(base, feature_entries, configuration)
            output["mergedConfiguration"] = merged.to_json()
    return ReadConfigurationResult(output=output, loaded=loaded, warnings=loaded.warnings)


def resolved_features(loaded: LoadedConfig) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The default :data:`FeaturesProvider`: fetch and order the config's features with
    :mod:`devenv.features.resolve` (without touching the lockfile) and describe them like the reference."""
    features = loaded.data.get("features")
    if not isinstance(features, dict) or not features:
        return [], None
    from devenv.config.merge import feature_metadata_entry
    from devenv.features.resolve import resolve_features
    from devenv.paths import data_root

    order = loaded.config.override_feature_install_order
    resolution = resolve_features(
        features,
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
        feature = {
            **metadata,
            "value": step.options,
            "included": True,
            "cachePath": str(fetched.folder),
            "consecutiveId": f"{feature_id}_{index}",
        }
        feature_sets.append(
            {
                "sourceInformation": _source_information(step.user_id, fetched),
                "features": [feature],
                "internalVersion": "2",
            }
        )
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
        return {
            "type": "oci",
            "featureRef": feature_ref,
            "manifestDigest": fetched.digest,
            "userFeatureId": user_id,
            "userFeatureIdWithoutVersion": ref.without_version,
        }
    return {"type": "github-repo", "userFeatureId": user_id, "userFeatureIdWithoutVersion": ref.without_version}
