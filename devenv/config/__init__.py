"""The devcontainer.json configuration layer: locate, parse (JSONC with positions), validate, model,
substitute, merge. Pure functions over frozen dataclasses; the only I/O is reading the config file.

Public API (import from ``devenv.config``):

Loading
    ``load(workspace_folder=None, config_path=None, *, env=None, mount_git_root=True,
    mount_git_worktree_common_dir=False, override_config=None, cwd=None) -> LoadedConfig``
        (module ``loader``) Locate (``.devcontainer/devcontainer.json``, ``.devcontainer.json``,
        ``.devcontainer/<sub>/devcontainer.json``; module ``locator``), parse, validate (first error raised as
        :class:`devenv.errors.ConfigError` ``path:line:col: pointer: message`` with an excerpt),
        move legacy ``extensions``/``settings``/``devPort`` to ``customizations.vscode``, compute the
        default workspace folder/mount, substitute the local variables, and type it.
    ``LoadedConfig``: ``config_path``, ``config_folder``, ``workspace_folder`` (local),
        ``raw`` (before substitution), ``data`` (after: what read-configuration prints), ``config``
        (:class:`DevContainerConfig`), ``workspace`` (:class:`WorkspaceConfig`: container
        ``workspace_folder`` and ``workspace_mount``), ``warnings``, ``id_labels``,
        ``devcontainer_id``, ``error(where, message)`` → ConfigError at a property's position,
        ``with_devcontainer_id(labels=None)`` and ``with_container_env(env)`` (phases 2 and 3).
    ``loads(text, config_path, workspace_folder, *, env)`` — the same from text (tests, tools).
    ``locate(workspace_folder) -> str``; ``read_document(path) -> Document``; ``parse_jsonc(text, path)``.

Model (``devenv.config.model``)
    ``DevContainerConfig`` (every spec property; ``None`` = unset; ``kind`` is
    ``image|dockerfile|compose|none``; ``effective_*`` apply the defaults), ``BuildConfig``,
    ``ComposeConfig``, ``FeatureRequest``, ``Mount`` (+ ``parse_mount_string``), ``PortAttributes``,
    ``HostRequirements``, ``GpuRequirement``, ``Secret``, ``LifecycleCommand``.

Substitution (``devenv.config.substitute``)
    ``substitute_local(value, LocalContext(env, local_workspace_folder, container_workspace_folder))``,
    ``devcontainer_id(labels) -> str`` (same id as the reference), ``id_labels(folder, config_file)``,
    ``substitute_devcontainer_id(value, labels_or_id)``,
    ``substitute_container_env(value, container_env)``.

Merging (``devenv.config.merge``)
    ``merge_metadata(image_metadata_entries, feature_entries, config_data) -> MergedConfig``
    (typed fields + ``data``, the reference's ``mergedConfiguration``; ``hook(name)`` gives the
    commands with their origin), ``config_metadata_entry(config_data)`` and
    ``feature_metadata_entry(feature_json, user_feature_id)`` (the entries of the
    ``devcontainer.metadata`` label), ``parse_metadata_label(text)``.

read-configuration
    ``read_configuration(ReadConfigurationOptions, features=None, image_metadata=None, container=None)
    -> ReadConfigurationResult`` (module ``readconf``): the providers bring what is outside the file —
    ``resolved_features``, and :class:`devenv.config.sources.WorkspaceSources` (the workspace's container
    and the base image's label, from devenv's store or the Docker engine); ``devenv.api.read_configuration``
    wires them. ``jsonout.dumps`` writes JSON like JavaScript's ``JSON.stringify``.
    ``WorkspaceConfig.additional_mount``: the bind mount of a git worktree's common ``.git`` folder.

Features (``devenv.features``): ``parse_feature_ref``, ``option_env_name``, ``feature_options``,
``install_order`` — see that package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The functions ``load`` and ``locate`` live in the submodules ``loader`` and ``locator``: no submodule
# shares a name with a function of the package (importing it would rebind the package attribute).
from devenv.config.jsonc import Document, PathKey
from devenv.config.jsonc import parse as parse_jsonc
from devenv.config.loader import LoadedConfig, load, load_document, loads, read_document, update_from_old_properties
from devenv.config.locator import WorkspaceConfig, locate
from devenv.config.model import DevContainerConfig
from devenv.config.substitute import (
    LocalContext,
    devcontainer_id,
    id_labels,
    substitute_container_env,
    substitute_devcontainer_id,
    substitute_local,
)
from devenv.config.validate import ConfigWarning

if TYPE_CHECKING:
    from devenv.config.merge import (
        MergedConfig,
        config_metadata_entry,
        feature_metadata_entry,
        merge_metadata,
        parse_metadata_label,
    )
    from devenv.config.readconf import ReadConfigurationOptions, ReadConfigurationResult, read_configuration

# Merging and read-configuration are imported on first use (PEP 562): most commands do not need them.
_LAZY = {
    "MergedConfig": "merge",
    "config_metadata_entry": "merge",
    "feature_metadata_entry": "merge",
    "merge_metadata": "merge",
    "parse_metadata_label": "merge",
    "ReadConfigurationOptions": "readconf",
    "ReadConfigurationResult": "readconf",
    "read_configuration": "readconf",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'devenv.config' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"devenv.config.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "ConfigWarning",
    "DevContainerConfig",
    "Document",
    "LoadedConfig",
    "LocalContext",
    "MergedConfig",
    "PathKey",
    "ReadConfigurationOptions",
    "ReadConfigurationResult",
    "WorkspaceConfig",
    "config_metadata_entry",
    "devcontainer_id",
    "feature_metadata_entry",
    "id_labels",
    "load",
    "load_document",
    "loads",
    "locate",
    "merge_metadata",
    "parse_jsonc",
    "parse_metadata_label",
    "read_configuration",
    "read_document",
    "substitute_container_env",
    "substitute_devcontainer_id",
    "substitute_local",
    "update_from_old_properties",
]
