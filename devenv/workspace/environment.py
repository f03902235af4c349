"""The environment of tool processes: userEnvProbe (once per container start, cached) + remoteEnv.

``userEnvProbe`` (``none`` / ``loginShell`` / ``interactiveShell`` / ``loginInteractiveShell``, the
default) starts the remote user's shell the way a terminal would and reads the environment it ends up
with (``cat /proc/self/environ`` between two marks, as the reference does). ``remoteEnv`` goes on top,
its ``${containerEnv:VAR[:default]}`` references resolved against the container's environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from devenv.config.merge import MergedConfig
    from devenv.config.model import LifecycleCommand

PROBES = ("none", "loginShell", "interactiveShell", "loginInteractiveShell")
DEFAULT_PROBE = "loginInteractiveShell"
PROBE_TIMEOUT = 10.0

_FLAGS = {"loginInteractiveShell": "-lic", "loginShell": "-lc", "interactiveShell": "-ic", "none": "-c"}


def probe_flag(probe: str) -> str:
    """The POSIX shell flag of a userEnvProbe value."""
    return _FLAGS.get(probe, "-lic")


def probe_command(shell: str, probe: str, mark: str | None = None) -> tuple[list[str], str]:
    """The argv that prints the shell's environment between two marks, and the mark."""
    mark = mark or os.urandom(16).hex()  # (not uuid: its import pulls in platform)
    flag = _FLAGS.get(probe, "-lic")
    command = f"echo -n {mark}; cat /proc/self/environ; echo -n {mark}"
    name = shell.rsplit("/", 1)[-1]
    if re.fullmatch(r"pwsh(-preview)?", name):
        args = ["-Login", "-Command"] if probe in ("loginInteractiveShell", "loginShell") else ["-Command"]
        return [shell, *args, command], mark
    return [shell, flag, command], mark


def parse_probe_output(output: bytes, mark: str) -> dict[str, str] | None:
    """The variables printed between the marks (None when the marks are missing: the probe failed)."""
    text = output.decode("utf-8", "replace")
    start = text.find(mark)
    end = text.find(mark, start + len(mark)) if start != -1 else -1
    if start == -1 or end == -1:
        return None
    env: dict[str, str] = {}
    for item in text[start + len(mark) : end].split("\0"):
        key, sep, value = item.partition("=")
        if sep and key:
            env[key] = value
    env.pop("PWD", None)  # the reference drops only PWD
    return env


def merge_paths(shell_path: str, container_path: str, root_user: bool) -> str:
    """The reference's PATH merge: container entries the shell dropped come back in their place
    (``sbin`` folders only for root)."""
    result = shell_path.split(":")
    insert_at = 0
    for entry in container_path.split(":"):
        if entry in result:
            insert_at = result.index(entry) + 1
        elif root_user or not re.search(r"/sbin(/|$)", entry):
            result.insert(insert_at, entry)
            insert_at += 1
    return ":".join(result)


def remote_environment(
    probed: Mapping[str, str],
    remote_env: Mapping[str, str | None],
    container_env: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """probed shell env, then ``--remote-env``, then the config's ``remoteEnv`` (``null`` leaves a variable out)."""
    env = dict(probed)
    env.update(extra or {})
    from devenv.config.substitute import substitute_container_env

    resolved = substitute_container_env(dict(remote_env), container_env)
    for key, item in resolved.items():
        if item is None:
            env.pop(key, None)
        else:
            env[key] = str(item)
    return env


def resolved_remote_env(remote_env: Mapping[str, str | None]) -> dict[str, str | None]:
    """remoteEnv as :func:`remote_environment` applies it (``${containerEnv:...}`` already resolved)."""
    return {k: None if v is None else str(v) for k, v in remote_env.items()}


def env_list_to_dict(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
    return env


def _has_container_env(value: object) -> bool:
    if isinstance(value, str):
        return "${containerEnv" in value
    if isinstance(value, Mapping):
        return any(_has_container_env(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_container_env(v) for v in value)
    return False


def _command(value: object, env: Mapping[str, str]) -> object:
    from devenv.config.substitute import substitute_container_env

    if isinstance(value, str):
        return substitute_container_env(value, env)
    if isinstance(value, tuple):
        return tuple(substitute_container_env(list(value), env))
    if isinstance(value, Mapping):
        return {name: _command(entry, env) for name, entry in value.items()}
    return value


def with_container_env(merged: MergedConfig, container_env: Mapping[str, str]) -> MergedConfig:
    """The merged configuration with ``${containerEnv:VAR[:default]}`` resolved everywhere it is used once
    the container exists: lifecycle hooks (every form), remoteEnv, remoteUser, userEnvProbe, waitFor,
    customizations and the reference's ``mergedConfiguration`` object — as the reference's
    ``containerSubstitute`` does. A variable that is not set becomes its default, else ``""``."""
    if not _has_container_env(merged.data) and not any(
        _has_container_env(h.command) for hooks in merged.lifecycle.values() for h in hooks
    ):
        return merged
    from dataclasses import replace

    from devenv.config.merge import HookCommand
    from devenv.config.substitute import substitute_container_env

    def sub(value: Any) -> Any:
        return substitute_container_env(value, container_env)

    def text(value: str | None) -> str | None:
        return None if value is None else str(sub(value))

    lifecycle = {
        name: tuple(HookCommand(h.origin, cast("LifecycleCommand", _command(h.command, container_env))) for h in hooks)
        for name, hooks in merged.lifecycle.items()
    }
    return replace(
        merged,
        data=sub(_plain(merged.data)),
        lifecycle=lifecycle,
        remote_env=sub(dict(merged.remote_env)),
        remote_user=text(merged.remote_user),
        user_env_probe=text(merged.user_env_probe),
        wait_for=text(merged.wait_for),
        customizations={k: tuple(sub(_plain(list(v)))) for k, v in merged.customizations.items()},
    )


def _plain(value: Any) -> Any:
    """JSON-like data with mappings as dicts and tuples as lists (what the substitution walks)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
