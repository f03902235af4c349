"""Which workspace is this? Its local folder + config file, as the id labels the reference puts on containers.

A workspace's container carries ``devcontainer.local_folder=<folder>`` and
``devcontainer.config_file=<config path>`` (or the labels given with ``--id-label``); that is how it is
found again. The same labels give the workspace its key (``${devcontainerId}``) and its state directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from devenv.errors import UsageError

LOCAL_FOLDER_LABEL = "devcontainer.local_folder"
CONFIG_FILE_LABEL = "devcontainer.config_file"
METADATA_LABEL = "devcontainer.metadata"
# devenv's own labels on the containers it creates.
CONFIG_DIGEST_LABEL = "dev.devenv.config_digest"
WORKSPACE_FOLDER_LABEL = "dev.devenv.workspace_folder"

_B32 = "0123456789abcdefghijklmnopqrstuv"


def parse_id_labels(items: Sequence[str]) -> dict[str, str]:
    """``--id-label name=value`` arguments as a dict (the reference's format and error)."""
    labels: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise UsageError(
                f"--id-label {item!r}: id-label must match <name>=<value>", remedy="e.g. --id-label project=web"
            )
        labels[name] = value
    return labels


def default_id_labels(folder: str, config_file: str) -> dict[str, str]:
    return {LOCAL_FOLDER_LABEL: folder, CONFIG_FILE_LABEL: config_file}


def devcontainer_id(labels: Mapping[str, str]) -> str:
    """``${devcontainerId}``: SHA-256 of the labels as sorted, compact JSON, in base 32 (0-9a-v), 52 chars."""
    text = json.dumps({k: labels[k] for k in sorted(labels)}, separators=(",", ":"), ensure_ascii=False)
    number = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")
    digits = []
    while number:
        number, rem = divmod(number, 32)
        digits.append(_B32[rem])
    return "".join(reversed(digits)).rjust(52, "0")


@dataclass(frozen=True)
class WorkspaceMount:
    """Where the source goes: the host folder bound (``host_folder``) and the folder tools start in."""

    host_folder: str  # the folder (or its git root) bound into the container
    container_mount: str  # the bind target, /workspaces/<basename of host_folder>
    workspace_folder: str  # the working folder in the container (container_mount + the relative path)


def default_workspace_mount(folder: str, git_root: str | None) -> WorkspaceMount:
    """The reference's default: bind the git root (or the folder) to /workspaces/<basename>.

    The working folder is the user's folder at the same relative place under the mount.
    """
    host = git_root if git_root and (folder == git_root or folder.startswith(git_root.rstrip("/") + "/")) else folder
    target = posixpath.join("/workspaces", os.path.basename(host.rstrip("/")) or "root")
    rel = os.path.relpath(folder, host)
    work = target if rel == "." else posixpath.join(target, rel.replace(os.sep, "/"))
    return WorkspaceMount(host, target, work)


def workspace_mount_string(mount: WorkspaceMount) -> str:
    """The ``--mount`` string of a workspace mount, as the reference writes it (quotes for commas)."""
    src = f'"source={mount.host_folder}"' if "," in mount.host_folder else f"source={mount.host_folder}"
    dst = f'"target={mount.container_mount}"' if "," in mount.container_mount else f"target={mount.container_mount}"
    return f"type=bind,{src},{dst}"
