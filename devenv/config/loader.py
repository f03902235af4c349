"""``load``: locate, read, parse, validate, map legacy properties, substitute, type — one call."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devenv.config import jsonc, model, substitute, validate
from devenv.config.jsonc import Document, PathKey, format_pointer
from devenv.config.locator import (
    WorkspaceConfig,
    _truthy,
    absolute,
    default_config_path,
    default_workspace,
    load_text,
    locate,
    well_known,
)
from devenv.config.validate import ConfigWarning
from devenv.errors import ConfigError


@dataclass(frozen=True)
class LoadedConfig:
    """A devcontainer.json after the local substitution phase, with everything needed to go further.

    ``raw`` is the file's object (legacy properties already moved to ``customizations.vscode``)
    before substitution; ``data`` is the same after substitution — exactly what
    ``read-configuration`` prints as ``configuration`` (without ``configFilePath``); ``config`` is
    the typed model of ``data``. ``document`` keeps every value's source position: use
    :meth:`error` to report a problem at a property.
    """

    config_path: Path
    workspace_folder: Path | None
    document: Document
    raw: Mapping[str, Any]
    data: Mapping[str, Any]
    config: model.DevContainerConfig
    workspace: WorkspaceConfig
    warnings: tuple[ConfigWarning, ...] = ()
    context: substitute.LocalContext = field(default_factory=lambda: substitute.LocalContext(env={}))

    @property
    def config_folder(self) -> Path:
        """The folder holding devcontainer.json: relative paths in the config start here."""
        return self.config_path.parent

    @property
    def id_labels(self) -> dict[str, str]:
        """The labels identifying this workspace's container (what ``${devcontainerId}`` hashes)."""
        folder = str(self.workspace_folder) if self.workspace_folder is not None else ""
        return substitute.id_labels(folder, str(self.config_path))

    @property
    def devcontainer_id(self) -> str:
        return substitute.devcontainer_id(self.id_labels)

    def error(self, where: PathKey | str, message: str, *, remedy: str | None = None) -> ConfigError:
        """A :class:`ConfigError` at a property: ``where`` is a key path like ``("forwardPorts", 1)``."""
        key = (where,) if isinstance(where, str) else where
        return self.document.error(key, message, remedy=remedy)

    def position(self, where: PathKey | str) -> tuple[int, int] | None:
        key = (where,) if isinstance(where, str) else where
        return self.document.locate(key)

    def substitute_local(self, value: Any) -> Any:
        """Phase 1 with this config's context, for values from elsewhere (image and feature metadata)."""
        return substitute.substitute_local(value, self.context)

    def with_devcontainer_id(self, labels: Mapping[str, str] | None = None) -> LoadedConfig:
        """Phase 2: ``${devcontainerId}`` replaced (from ``labels``, default :attr:`id_labels`)."""
        data = substitute.substitute_devcontainer_id(dict(self.data), labels or self.id_labels)
        return self._with_data(data)

    def with_container_env(self, container_env: Mapping[str, str]) -> LoadedConfig:
        """Phase 3: ``${containerEnv:V}`` replaced with the running container's environment."""
        data = substitute.substitute_container_env(
            dict(self.data), container_env, config_file=str(self.config_path), doc=self.document
        )
        return self._with_data(data)

    def _with_data(self, data: dict[str, Any]) -> LoadedConfig:
        folder = data.get("workspaceFolder")
        workspace = self.workspace
        if isinstance(folder, str):
            workspace = replace(workspace, workspace_folder=folder)
        if "workspaceMount" in data:
            workspace = replace(workspace, workspace_mount=data["workspaceMount"], has_workspace_mount=True)
        return replace(self, data=data, config=model.from_json(data), workspace=workspace)


def update_from_old_properties(config: dict[str, Any]) -> dict[str, Any]:
    """Move legacy top-level ``extensions`` / ``settings`` / ``devPort`` into ``customizations.vscode``.

    The same rules (and JavaScript truthiness) as the reference: extensions are appended to any
    already there, settings already under ``customizations.vscode`` win, and ``devPort`` moves only
    when ``customizations.vscode.devPort`` is unset.
    """
    truthy = _truthy
    if not (truthy(config.get("extensions")) or truthy(config.get("settings")) or "devPort" in config):
        return config
    copy = dict(config)
    customizations = copy.get("customizations")
    customizations = dict(customizations) if isinstance(customizations, dict) and truthy(customizations) else {}
    vscode = customizations.get("vscode")
    vscode = dict(vscode) if isinstance(vscode, dict) else {}
    if truthy(copy.get("extensions")):
        existing = vscode.get("extensions")
        existing = list(existing) if isinstance(existing, list) else [existing] if truthy(existing) else []
        added = copy.pop("extensions")
        vscode["extensions"] = existing + (list(added) if isinstance(added, list) else [added])
    if truthy(copy.get("settings")):
        settings = copy.pop("settings")
        current = vscode.get("settings")
        vscode["settings"] = {
            **(settings if isinstance(settings, dict) else {}),
            **(current if isinstance(current, dict) else {}),
        }
    if "devPort" in copy and "devPort" not in vscode:
        vscode["devPort"] = copy.pop("devPort")
    customizations["vscode"] = vscode
    copy["customizations"] = customizations
    return copy


def read_document(path: str) -> Document:
    """Read and parse a devcontainer.json (any JSONC file): :class:`ConfigError` with a position on failure."""
    data = load_text(path)
    return jsonc.parse(jsonc.decode(data, path), path)


def check_document(doc: Document) -> tuple[ConfigWarning, ...]:
    """Validate; the first error is raised (the others are listed in its detail), warnings returned."""
    issues = validate.check(doc)
    if issues.errors:
        where, message = issues.errors[0]
        error = doc.error(where, message)
        if len(issues.errors) > 1:
            more = [f"  {_where(doc, w)}: {m}" for w, m in issues.errors[1:11]]
            extra = len(issues.errors) - 11
            if extra > 0:
                more.append(f"  ... and {extra} more")
            error.detail = (error.detail or "") + "\nalso:\n" + "\n".join(more)
        raise error
    return tuple(issues.warnings)


def _where(doc: Document, where: PathKey) -> str:
    pos = doc.locate(where)
    line_col = f"{pos[0]}:{pos[1]}" if pos else "?"
    pointer = format_pointer(where)
    return f"{line_col}: {pointer}" if pointer else line_col


def load(
    workspace_folder: str | os.PathLike[str] | None = None,
    config_path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    mount_git_root: bool = True,
    mount_git_worktree_common_dir: bool = False,
    override_config: str | os.PathLike[str] | None = None,
    cwd: str | None = None,
) -> LoadedConfig:
    """Load a workspace's devcontainer.json through the local substitution phase.

    ``workspace_folder`` defaults to the current directory when no ``config_path`` is given;
    ``config_path`` skips the lookup. ``env`` is the host environment for ``${localEnv:...}``
    (default: ``os.environ``). Raises :class:`ConfigError` (with ``path:line:col`` where there is one).

    ``override_config`` (``--override-config``) is read *instead of* the workspace's file, which need not
    exist: the config still counts as being at ``config_path``, or at the workspace's
    ``.devcontainer/devcontainer.json`` / ``.devcontainer.json``, or (neither exists) at
    ``.devcontainer/devcontainer.json`` — relative paths in it, ``configFilePath`` and the id labels
    follow that place, as in the reference. Without a workspace folder or ``config_path`` it is its own place.
    """
    folder: str | None = None
    if workspace_folder is not None or (config_path is None and override_config is None):
        folder = absolute(workspace_folder if workspace_folder is not None else ".", cwd)
    override = absolute(override_config, cwd) if override_config is not None else None
    if config_path is not None:
        path = absolute(config_path, cwd)
    elif override is None:
        path = locate(folder or ".")
    elif folder is not None:
        if not os.path.isdir(folder):
            locate(folder)  # the error for a missing workspace folder
        path = well_known(folder) or default_config_path(folder)
    else:
        path = override
    document = read_document(override if override is not None else path)
    return load_document(
        document,
        folder,
        env=env,
        mount_git_root=mount_git_root,
        mount_git_worktree_common_dir=mount_git_worktree_common_dir,
        config_path=path,
    )


def loads(
    text: str,
    config_path: str = "/workspace/.devcontainer/devcontainer.json",
    workspace_folder: str | None = "/workspace",
    *,
    env: Mapping[str, str] | None = None,
    mount_git_root: bool = False,
) -> LoadedConfig:
    """:func:`load` from text (no file is read): for tests, tools and configs held in memory."""
    return load_document(jsonc.parse(text, config_path), workspace_folder, env=env or {}, mount_git_root=mount_git_root)


def load_document(
    doc: Document,
    folder: str | None,
    *,
    env: Mapping[str, str] | None = None,
    mount_git_root: bool = True,
    mount_git_worktree_common_dir: bool = False,
    config_path: str | None = None,
) -> LoadedConfig:
    """Validate, map legacy properties, substitute and type an already parsed document.

    ``config_path`` is where the config counts as being (default: where the document was read from;
    they differ for ``--override-config``): errors still point into the document's own file."""
    path = config_path or doc.path or "devcontainer.json"
    warnings = check_document(doc)
    raw = update_from_old_properties(doc.value)
    workspace = default_workspace(
        folder, raw, mount_git_root=mount_git_root, mount_git_worktree_common_dir=mount_git_worktree_common_dir
    )
    container_folder = workspace.workspace_folder
    context = substitute.LocalContext(
        env=os.environ if env is None else env,
        local_workspace_folder=folder,
        container_workspace_folder=container_folder if isinstance(container_folder, str) else None,
        config_file=path,
    )
    data = substitute.substitute_local(raw, context, doc=doc)
    if isinstance(data.get("workspaceFolder"), str):
        workspace = replace(workspace, workspace_folder=data["workspaceFolder"])
    if "workspaceMount" in data:
        workspace = replace(workspace, workspace_mount=data["workspaceMount"], has_workspace_mount=True)
    return LoadedConfig(
        config_path=Path(path),
        workspace_folder=Path(folder) if folder is not None else None,
        document=doc,
        raw=raw,
        data=data,
        config=model.from_json(data),
        workspace=workspace,
        warnings=warnings,
        context=context,
    )
