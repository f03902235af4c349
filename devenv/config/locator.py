"""Find a workspace's devcontainer.json, and where the workspace goes inside the container.

Lookup order under the workspace folder (the first that is a file wins):
``.devcontainer/devcontainer.json``, ``.devcontainer.json``, then
``.devcontainer/<folder>/devcontainer.json`` — when several sub-folders hold one, the user must
choose with ``--config``.

The default workspace mount follows the reference: the enclosing git repository's top folder is
mounted at ``/workspaces/<its name>`` and the workspace folder is the matching sub-folder, so that
git works inside the container.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devenv.config.substitute import posix_basename
from devenv.errors import ConfigError

WELL_KNOWN = (".devcontainer/devcontainer.json", ".devcontainer.json")


def absolute(path: str | os.PathLike[str], cwd: str | None = None) -> str:
    """Node's ``path.resolve(cwd, path)``: absolute and normalised, symlinks kept."""
    return os.path.normpath(os.path.join(cwd or os.getcwd(), os.fspath(path)))


def candidates(workspace_folder: str) -> list[str]:
    """Every devcontainer.json the lookup would consider, in order of preference."""
    found = [os.path.join(workspace_folder, name) for name in WELL_KNOWN]
    found = [path for path in found if os.path.isfile(path)]
    if found:
        return found
    folder = os.path.join(workspace_folder, ".devcontainer")
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [path for name in names if os.path.isfile(path := os.path.join(folder, name, "devcontainer.json"))]


def well_known(workspace_folder: str) -> str | None:
    """``.devcontainer/devcontainer.json`` or ``.devcontainer.json`` in the folder (the reference's only
    two places: with ``--override-config`` it looks nowhere else)."""
    for name in WELL_KNOWN:
        if os.path.isfile(path := os.path.join(workspace_folder, name)):
            return path
    return None


def default_config_path(workspace_folder: str) -> str:
    """Where the config of a workspace counts as being when it has none (``--override-config``)."""
    return os.path.join(workspace_folder, WELL_KNOWN[0])


def locate(workspace_folder: str) -> str:
    """The config file of a workspace, or a :class:`ConfigError` saying what was looked for."""
    if not os.path.isdir(workspace_folder):
        if workspace_folder.endswith(".code-workspace") and os.path.isfile(workspace_folder):
            raise ConfigError(
                "a VS Code .code-workspace file is not a workspace folder (devcontainers/cli cannot read "
                "the configuration of one either)",
                path=workspace_folder,
                remedy=f"pass the folder that holds it: --workspace-folder {os.path.dirname(workspace_folder)}",
            )
        raise ConfigError(
            "the workspace folder does not exist or is not a folder",
            path=workspace_folder,
            remedy="pass an existing folder with --workspace-folder",
        )
    if (found_well_known := well_known(workspace_folder)) is not None:
        return found_well_known
    found = candidates(workspace_folder)
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError(
            "no dev container config found (looked for .devcontainer/devcontainer.json, .devcontainer.json "
            "and .devcontainer/<folder>/devcontainer.json)",
            path=workspace_folder,
            remedy="create .devcontainer/devcontainer.json, or pass --config PATH",
        )
    listing = "\n".join(f"  {os.path.relpath(p, workspace_folder)}" for p in found)
    raise ConfigError(
        f"several dev container configs found; choose one with --config:\n{listing}",
        path=workspace_folder,
        remedy=f"devenv ... --config {os.path.relpath(found[0], workspace_folder)}",
    )


def git_root(folder: str, env: Mapping[str, str] | None = None) -> str | None:
    """The top folder of the git work tree holding ``folder``, as the reference finds it: with
    ``git rev-parse --show-cdup`` (so ``safe.directory``, ``GIT_DIR`` and worktrees count), symlinks kept.
    ``None`` when git says it is not a repository (or is not installed)."""
    env = os.environ if env is None else env
    if "GIT_DIR" not in env and "GIT_WORK_TREE" not in env and not _has_dot_git_above(folder):
        return None  # git would fail too; spare the process
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--show-cdup"],
            cwd=folder,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return os.path.normpath(os.path.join(folder, proc.stdout.strip()))


def _has_dot_git_above(folder: str) -> bool:
    current = folder
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            return True
        parent = os.path.dirname(current)
        if parent == current:
            return False
        current = parent


@dataclass(frozen=True)
class WorkspaceConfig:
    """Where the workspace is in the container, and how it gets there (``--mount`` syntax).

    ``additional_mount`` is the bind mount of a git worktree's common folder (``--mount-git-worktree-common-dir``):
    the main repository's ``.git``, at the place the worktree's relative ``gitdir:`` points to in the container.
    """

    workspace_folder: str | None
    workspace_mount: Any = None  # a string normally; kept as written when the config sets it
    has_workspace_mount: bool = False
    additional_mount: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.workspace_folder is not None:
            out["workspaceFolder"] = self.workspace_folder
        if self.has_workspace_mount:
            out["workspaceMount"] = self.workspace_mount
        if self.additional_mount is not None:
            out["additionalMountString"] = self.additional_mount
        return out


def _bind(source: str, target: str) -> str:
    """A bind mount in ``--mount`` syntax, quoting a value that holds a comma (as the reference does)."""
    src = f'"source={source}"' if "," in source else f"source={source}"
    dst = f'"target={target}"' if "," in target else f"target={target}"
    return f"type=bind,{src},{dst}"


def worktree_mounts(host_folder: str) -> tuple[str, str] | None:
    """For a git worktree whose ``.git`` file points to its git folder by a *relative* path
    (``git worktree add --relative-paths``): the container folder to mount the worktree at (its path
    below the folder that holds the main repository, under ``/workspaces``) and the bind mount of the
    repository's common git folder, placed so that the relative path still resolves in the container.
    ``None`` for anything else (a normal repository, an absolute ``gitdir:``), as the reference does."""
    import posixpath
    import re

    try:
        with open(os.path.join(host_folder, ".git"), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:  # no .git, or a folder: not a worktree
        return None
    match = re.search("^gitdir:\\s*([^\n\r\u2028\u2029]+)", text, re.MULTILINE)  # JavaScript's /^gitdir:\s*(.+)$/m
    if match is None or match.group(1).startswith("/"):
        return None
    gitdir = match.group(1)
    common = os.path.normpath(os.path.join(host_folder, gitdir, "..", ".."))  # .git/worktrees/<name>/ -> .git
    segments: list[str] = []
    current = host_folder
    while not common.startswith(current + "/") and current != os.path.dirname(current):
        segments.insert(0, os.path.basename(current))
        current = os.path.dirname(current)
    container_folder = posixpath.join("/workspaces", *segments)
    container_common = posixpath.normpath(posixpath.join(container_folder, gitdir, "..", ".."))
    return container_folder, _bind(common, container_common)


def default_workspace(
    local_folder: str | None,
    config: dict[str, Any],
    *,
    mount_git_root: bool = True,
    mount_git_worktree_common_dir: bool = False,
    env: Mapping[str, str] | None = None,
) -> WorkspaceConfig:
    """The workspace folder and mount before substitution (the reference's ``getWorkspaceConfiguration``)."""
    if "dockerComposeFile" in config:
        folder = config.get("workspaceFolder")
        return WorkspaceConfig(folder if _truthy(folder) else "/", None, False)
    folder = config.get("workspaceFolder")
    mount: Any = config.get("workspaceMount")
    has_mount = "workspaceMount" in config
    additional: str | None = None
    if local_folder is not None and (not _truthy(folder) or not has_mount):
        host_folder = (git_root(local_folder, env) if mount_git_root else None) or local_folder
        name = posix_basename(host_folder)
        container_folder = f"/workspaces/{name}" if name else "/workspaces"
        if mount_git_root and mount_git_worktree_common_dir:
            worktree = worktree_mounts(host_folder)
            if worktree is not None:
                container_folder, additional = worktree
        if not _truthy(folder):
            rel = os.path.relpath(local_folder, host_folder)
            folder = os.path.normpath(os.path.join(container_folder, rel)) if rel != "." else container_folder
        if not has_mount:
            mount = _bind(host_folder, container_folder)
            has_mount = True
    return WorkspaceConfig(folder, mount, has_mount, additional)


def _truthy(value: Any) -> bool:
    """JavaScript truthiness of a JSON value."""
    return value not in (None, False, 0, "") and not (isinstance(value, float) and value != value)


def load_text(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise ConfigError("dev container config not found", path=path, remedy="check the --config path") from None
    except IsADirectoryError:
        raise ConfigError("expected a devcontainer.json file, found a folder", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", path=path) from None
