"""Variable substitution in three phases, as the reference tool does it.

1. :func:`substitute_local` — when the file is read: ``${localEnv:V}`` / ``${env:V}`` (an unset
   variable becomes ``""``; ``${localEnv:V:default}`` supplies a default, which ends at the next
   ``:``), ``${localWorkspaceFolder}``, ``${localWorkspaceFolderBasename}``,
   ``${containerWorkspaceFolder}``, ``${containerWorkspaceFolderBasename}``.
2. :func:`substitute_devcontainer_id` — once the container's identifying labels are known:
   ``${devcontainerId}`` (see :func:`devcontainer_id`).
3. :func:`substitute_container_env` — once a container runs: ``${containerEnv:V[:default]}``.

Only string *values* change, recursively through arrays and objects (keys never do). A variable is
``${...}`` matched non-greedily on one line, without nesting; every variable a phase does not know
is left verbatim (``${workspaceFolder}``, ``${HOME}``, ``${templateOption:x}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devenv.config.jsonc import Document, PathKey
from devenv.errors import ConfigError

VARIABLE = re.compile("\\$\\{([^\n\r\u2028\u2029]*?)\\}")
"""``${...}``: JavaScript's ``/\\$\\{(.*?)\\}/g`` (its ``.`` stops at any line terminator)."""

Replace = Callable[[str, str, list[str], PathKey], str]


@dataclass(frozen=True)
class LocalContext:
    """What the local phase knows: the host environment and both workspace folders."""

    env: Mapping[str, str]
    local_workspace_folder: str | None = None
    container_workspace_folder: str | None = None
    config_file: str | None = None


def posix_basename(path: str) -> str:
    """``path.posix.basename`` of Node: trailing slashes are ignored; ``/`` gives ``""``."""
    stripped = path.rstrip("/")
    return stripped.rsplit("/", 1)[-1] if stripped else ""


def _walk(value: Any, replace: Replace, where: PathKey) -> Any:
    if isinstance(value, str):
        return _resolve(value, replace, where)
    if isinstance(value, list):
        return [_walk(item, replace, (*where, i)) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _walk(item, replace, (*where, key)) for key, item in value.items()}
    return value


def _resolve(text: str, replace: Replace, where: PathKey) -> str:
    if "${" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        name, *args = match.group(1).split(":")
        return replace(match.group(0), name, args, where)

    return VARIABLE.sub(one, text)


def _lookup(
    env: Mapping[str, str], args: list[str], match: str, where: PathKey, doc: Document | None, config_file: str | None
) -> str:
    if not args:
        message = f"'{match}' can not be resolved because no environment variable name is given"
        remedy = f"name the variable, as in ${{{match[2:-1]}:NAME}} or ${{{match[2:-1]}:NAME:default}}"
        if doc is not None:
            raise doc.error(where, message, remedy=remedy)
        raise ConfigError(message, path=config_file, pointer=None, remedy=remedy)
    value = env.get(args[0])
    if value is not None:
        return value
    return args[1] if len(args) > 1 else ""


def substitute_local(value: Any, context: LocalContext, *, doc: Document | None = None) -> Any:
    """Phase 1 over a JSON value. ``doc`` (the parsed file) lets errors point at their line."""
    container_folder = context.container_workspace_folder

    def replace(match: str, name: str, args: list[str], where: PathKey) -> str:
        if name in ("env", "localEnv"):
            return _lookup(context.env, args, match, where, doc, context.config_file)
        if name == "localWorkspaceFolder":
            return context.local_workspace_folder if context.local_workspace_folder is not None else match
        if name == "localWorkspaceFolderBasename":
            folder = context.local_workspace_folder
            return posix_basename(folder) if folder is not None else match
        if name == "containerWorkspaceFolder":
            return container_folder if container_folder is not None else match
        if name == "containerWorkspaceFolderBasename":
            return posix_basename(container_folder) if container_folder is not None else match
        return match

    if container_folder:
        # The container folder may itself use variables (it comes from workspaceFolder).
        container_folder = _resolve(container_folder, replace, ("workspaceFolder",))
    return _walk(value, replace, ())


def devcontainer_id(labels: Mapping[str, str]) -> str:
    """The reference's ``${devcontainerId}``: SHA-256 of the labels as sorted, compact JSON, in base 32.

    The labels are those that identify a workspace's container, normally
    ``{"devcontainer.local_folder": <workspace folder>, "devcontainer.config_file": <config path>}``.
    Digits are ``0-9a-v`` (JavaScript ``BigInt.toString(32)``), left-padded with ``0`` to 52.
    """
    from devenv.sha import sha256

    text = json.dumps({k: labels[k] for k in sorted(labels)}, separators=(",", ":"), ensure_ascii=False)
    number = int.from_bytes(sha256(text.encode("utf-8", "surrogatepass")).digest(), "big")
    digits = "0123456789abcdefghijklmnopqrstuv"
    out = []
    while number:
        number, rest = divmod(number, 32)
        out.append(digits[rest])
    return "".join(reversed(out)).rjust(52, "0")


def id_labels(local_workspace_folder: str, config_file: str) -> dict[str, str]:
    """The labels the reference puts on a workspace container (and hashes into ``${devcontainerId}``)."""
    return {"devcontainer.local_folder": local_workspace_folder, "devcontainer.config_file": config_file}


def substitute_devcontainer_id(value: Any, labels_or_id: Mapping[str, str] | str) -> Any:
    """Phase 2: replace ``${devcontainerId}`` (given the id, or the labels to compute it from)."""
    the_id = labels_or_id if isinstance(labels_or_id, str) else devcontainer_id(labels_or_id)

    def replace(match: str, name: str, args: list[str], where: PathKey) -> str:
        return the_id if name == "devcontainerId" else match

    return _walk(value, replace, ())


def substitute_container_env(
    value: Any, container_env: Mapping[str, str], *, config_file: str | None = None, doc: Document | None = None
) -> Any:
    """Phase 3: replace ``${containerEnv:V[:default]}`` with the running container's environment."""

    def replace(match: str, name: str, args: list[str], where: PathKey) -> str:
        if name == "containerEnv":
            return _lookup(container_env, args, match, where, doc, config_file)
        return match

    return _walk(value, replace, ())


def env_list_to_dict(pairs: list[str] | None) -> dict[str, str]:
    """``["A=1", "B=x=y"]`` → ``{"A": "1", "B": "x=y"}`` (entries without ``=`` are skipped)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, val = pair.partition("=")
        if sep:
            out[key] = val
    return out
