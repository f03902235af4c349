"""``read-configuration``: the reference tool's JSON shape, computed from :func:`devenv.config.load`.

``{"configuration": {...config after local substitution..., "configFilePath": {URI}},
"workspace": {"workspaceFolder", "workspaceMount"}, "featuresConfiguration"?, "mergedConfiguration"?}``
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devenv.config.load import LoadedConfig, load
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
