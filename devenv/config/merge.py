"""Merge image metadata (``devcontainer.metadata`` label entries), features and devcontainer.json.

The entries are merged in order — base image entries, then one per feature (install order), then
devcontainer.json last — with the spec's per-property rules (DIGEST §7), exactly as the reference's
``mergeConfiguration`` does, JavaScript truthiness included:

* ``init``, ``privileged``: true if any entry is; ``capAdd``, ``securityOpt``: union in order;
* ``entrypoint`` → ``entrypoints``: all of them; lifecycle hooks → ``onCreateCommands`` ...: all of them;
* ``mounts``: all, de-duplicated by target (the last one wins, in its place);
* ``customizations``: per tool, the list of every entry's value;
* ``containerEnv``, ``remoteEnv``, ``portsAttributes``: per key, last wins;
* ``forwardPorts``: union, where ``3000`` and ``"localhost:3000"`` are the same port;
* ``hostRequirements``: the maximum of each field (sizes compared in bytes), GPU as in the spec;
* everything else (``waitFor``, ``remoteUser``, ``containerUser``, ``userEnvProbe``,
  ``overrideCommand``, ``otherPortsAttributes``, ``shutdownAction``, ``updateRemoteUserUID``): last set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from devenv.config import model
from devenv.config.locator import _truthy

CONFIG_PROPERTIES = (
    "onCreateCommand",
    "updateContentCommand",
    "postCreateCommand",
    "postStartCommand",
    "postAttachCommand",
    "waitFor",
    "customizations",
    "mounts",
    "containerEnv",
    "containerUser",
    "init",
    "privileged",
    "capAdd",
    "securityOpt",
    "remoteUser",
    "userEnvProbe",
    "remoteEnv",
    "overrideCommand",
    "portsAttributes",
    "otherPortsAttributes",
    "forwardPorts",
    "shutdownAction",
    "updateRemoteUserUID",
    "hostRequirements",
)
"""The devcontainer.json properties recorded in image metadata (the 🏷️ ones of the spec)."""

HOOKS = ("onCreateCommand", "updateContentCommand", "postCreateCommand", "postStartCommand", "postAttachCommand")
FEATURE_PROPERTIES = (*HOOKS, "init", "privileged", "capAdd", "securityOpt", "entrypoint", "mounts", "customizations")
"""The devcontainer-feature.json properties recorded in image metadata (with the feature's ``id``)."""

_REPLACED = ("customizations", "entrypoint", *HOOKS, "shutdownAction")
_UNSET = object()


def _pick(entry: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {key: entry[key] for key in keys if key in entry}


def config_metadata_entry(config: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata entry devcontainer.json contributes (what goes last in the image label)."""
    return _pick(config, CONFIG_PROPERTIES)


def feature_metadata_entry(feature: Mapping[str, Any], user_feature_id: str | None = None) -> dict[str, Any]:
    """The metadata entry of one feature: ``id`` (as the user referenced it) plus its container properties."""
    entry: dict[str, Any] = {"id": user_feature_id if user_feature_id is not None else feature.get("id")}
    entry.update(_pick(feature, FEATURE_PROPERTIES))
    return entry


def parse_metadata_label(value: str | None) -> list[dict[str, Any]]:
    """The ``devcontainer.metadata`` label: a JSON array of entries (a single object is accepted)."""
    if not value:
        return []
    import json

    try:
        parsed = json.loads(value)
    except ValueError:
        return []
    items = parsed if isinstance(parsed, list) else [parsed]
    return [item for item in items if isinstance(item, dict)]


@dataclass(frozen=True)
class HookCommand:
    """One command of a merged lifecycle hook, and who contributed it (a feature id or ``devcontainer.json``)."""

    origin: str
    command: model.LifecycleCommand


@dataclass(frozen=True)
class MergedConfig:
    """devcontainer.json merged with image and feature metadata.

    ``data`` is the reference's ``mergedConfiguration`` object; the typed fields are its view.
    ``config`` is devcontainer.json's own model (for build, compose and the other unmerged properties).
    """

    data: Mapping[str, Any]
    config: model.DevContainerConfig
    init: bool = False
    privileged: bool = False
    cap_add: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    entrypoints: tuple[str, ...] = ()
    mounts: tuple[model.Mount, ...] = ()
    customizations: Mapping[str, tuple[Any, ...]] = field(default_factory=lambda: MappingProxyType({}))
    lifecycle: Mapping[str, tuple[HookCommand, ...]] = field(default_factory=lambda: MappingProxyType({}))
    wait_for: str | None = None
    remote_user: str | None = None
    container_user: str | None = None
    user_env_probe: str | None = None
    remote_env: Mapping[str, str | None] = field(default_factory=lambda: MappingProxyType({}))
    container_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    override_command: bool | None = None
    ports_attributes: Mapping[str, model.PortAttributes] = field(default_factory=lambda: MappingProxyType({}))
    other_ports_attributes: model.PortAttributes | None = None
    forward_ports: tuple[model.PortRef, ...] = ()
    shutdown_action: str | None = None
    update_remote_user_uid: bool | None = None
    host_requirements: model.HostRequirements | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.data)

    def hook(self, name: str) -> tuple[HookCommand, ...]:
        """The commands of one hook (``postCreateCommand`` ...), features first, in install order."""
        return self.lifecycle.get(name, ())


def merge_metadata(
    image_metadata_entries: Sequence[Mapping[str, Any]],
    feature_entries: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any],
) -> MergedConfig:
    """Merge base-image label entries, feature metadata (install order) and devcontainer.json.

    ``feature_entries`` are feature metadata objects with ``id`` set to the reference the user wrote
    (see :func:`feature_metadata_entry`; other properties are ignored). ``config`` is the
    devcontainer.json object after substitution (``LoadedConfig.data``).
    """
    entries = [dict(e) for e in image_metadata_entries]
    entries += [_pick(e, ("id", *FEATURE_PROPERTIES)) for e in feature_entries]
    entries.append(config_metadata_entry(config))
    entries = [e for e in entries if e]
    return _typed(merge_entries(config, entries), config, entries)


def merge_entries(config: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The reference's ``mergeConfiguration(config, imageMetadata)`` as a JSON object."""
    customizations: dict[str, list[Any]] = {}
    for entry in entries:
        tools = entry.get("customizations")
        if isinstance(tools, dict):
            for tool, value in tools.items():
                customizations.setdefault(tool, []).append(value)
    reversed_entries = list(reversed(entries))

    def last(key: str, test: Any = _truthy) -> Any:
        return next((e[key] for e in reversed_entries if test(e.get(key))), _UNSET)

    def is_bool(value: Any) -> bool:
        return isinstance(value, bool)

    merged = {k: v for k, v in config.items() if k not in _REPLACED}
    update: dict[str, Any] = {
        "init": any(_truthy(e.get("init")) for e in entries),
        "privileged": any(_truthy(e.get("privileged")) for e in entries),
        "capAdd": _union(e.get("capAdd") for e in entries),
        "securityOpt": _union(e.get("securityOpt") for e in entries),
        "entrypoints": [e["entrypoint"] for e in entries if _truthy(e.get("entrypoint"))] or _UNSET,
        "mounts": _merge_mounts(entries),
        "customizations": customizations or _UNSET,
        **{hook + "s": [e[hook] for e in entries if _truthy(e.get(hook))] for hook in HOOKS},
        "waitFor": last("waitFor"),
        "remoteUser": last("remoteUser"),
        "containerUser": last("containerUser"),
        "userEnvProbe": last("userEnvProbe"),
        "remoteEnv": _assign(e.get("remoteEnv") for e in entries),
        "containerEnv": _assign(e.get("containerEnv") for e in entries),
        "overrideCommand": last("overrideCommand", is_bool),
        "portsAttributes": _assign(e.get("portsAttributes") for e in entries),
        "otherPortsAttributes": last("otherPortsAttributes"),
        "forwardPorts": _merge_forward_ports(entries),
        "shutdownAction": last("shutdownAction"),
        "updateRemoteUserUID": last("updateRemoteUserUID", is_bool),
        "hostRequirements": _merge_host_requirements(entries),
    }
    merged.update(update)
    return {k: v for k, v in merged.items() if v is not _UNSET}


def _union(lists: Iterable[Any]) -> Any:
    out: list[Any] = []
    for items in lists:
        if not isinstance(items, list):
            continue
        for item in items:
            if item not in out:
                out.append(item)
    return out or _UNSET


def _assign(maps: Iterable[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for value in maps:
        if isinstance(value, dict):
            out.update(value)
    return out


def _mount_target(mount: Any) -> Any:
    if isinstance(mount, str):
        target = None
        for part in mount.split(","):
            key, _, val = part.partition("=")
            if key in ("target", "destination", "dst"):
                target = val.split("=")[0]
        return target
    return mount.get("target") if isinstance(mount, dict) else None


def _merge_mounts(entries: Sequence[Mapping[str, Any]]) -> Any:
    mounts = [m for e in entries if _truthy(e.get("mounts")) for m in _as_list(e["mounts"])]
    seen: set[Any] = set()
    kept = []
    for mount in reversed(mounts):
        target = _mount_target(mount)
        key = target if isinstance(target, str | int | float | bool) or target is None else repr(target)
        if key in seen:
            continue
        seen.add(key)
        kept.append(mount)
    return list(reversed(kept)) or _UNSET


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _js_parse_int(text: str) -> int | None:
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else None


def _merge_forward_ports(entries: Sequence[Mapping[str, Any]]) -> Any:
    seen: list[Any] = []
    for entry in entries:
        for port in _as_list(entry.get("forwardPorts") or []):
            key = f"localhost:{port}" if isinstance(port, int | float) and not isinstance(port, bool) else port
            if key not in seen:
                seen.append(key)
    out = [
        _js_parse_int(port[10:]) if isinstance(port, str) and re.search(r"localhost:\d+", port) else port
        for port in seen
    ]
    return out or _UNSET


_UNITS = {"t": 2**40, "g": 2**30, "m": 2**20, "k": 2**10}


def parse_bytes(text: Any) -> int:
    """``"4gb"`` → 4294967296; anything that is not ``^\\d+([tgmk]b)?$`` counts as 0."""
    match = re.fullmatch(r"(\d+)([tgmk]b)?", text) if isinstance(text, str) else None
    if not match:
        return 0
    return int(match.group(1)) * (_UNITS[match.group(2)[0]] if match.group(2) else 1)


def _max(values: list[float]) -> float:
    return max(values) if values else float("-inf")


def _size(value: float) -> Any:
    if value == float("-inf"):
        return "-Infinity"
    return str(int(value)) if value else _UNSET


def _merge_gpu(a: Any, b: Any) -> Any:
    if a is None or a is False:
        return b
    if b is None or b is False:
        return a
    if a == "optional" and b == "optional":
        return "optional"
    a_obj = a if isinstance(a, dict) else {}
    b_obj = b if isinstance(b, dict) else {}
    cores = max(a_obj.get("cores") or 0, b_obj.get("cores") or 0)
    memory = max(parse_bytes(a_obj.get("memory") or "0"), parse_bytes(b_obj.get("memory") or "0"))
    out: dict[str, Any] = {}
    if cores:
        out["cores"] = cores
    if memory:
        out["memory"] = str(memory)
    return out


def _merge_host_requirements(entries: Sequence[Mapping[str, Any]]) -> Any:
    reqs: list[dict[str, Any]] = []
    for entry in entries:
        req = entry.get("hostRequirements")
        reqs.append(req if isinstance(req, dict) else {})
    cpus = _max([r.get("cpus") or 0 for r in reqs])
    memory = _max([parse_bytes(r.get("memory") or "0") for r in reqs])
    storage = _max([parse_bytes(r.get("storage") or "0") for r in reqs])
    gpu = None
    for r in reqs:
        gpu = _merge_gpu(gpu, r.get("gpu"))
    if not (cpus or memory or storage or _truthy(gpu)):
        return _UNSET
    out: dict[str, Any] = {"cpus": None if cpus == float("-inf") else cpus}
    for key, value in (("memory", _size(memory)), ("storage", _size(storage))):
        if value is not _UNSET:
            out[key] = value
    if gpu is not None:
        out["gpu"] = gpu
    return out


def _typed(data: dict[str, Any], config: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> MergedConfig:
    lifecycle: dict[str, tuple[HookCommand, ...]] = {}
    for hook in HOOKS:
        commands = []
        for entry in entries:
            command = model.lifecycle_command(entry.get(hook)) if _truthy(entry.get(hook)) else None
            if command is not None:
                commands.append(HookCommand(str(entry.get("id") or "devcontainer.json"), command))
        lifecycle[hook] = tuple(commands)
    view = model.from_json(data)  # typed view of the merged single-valued properties
    customizations = data.get("customizations") or {}
    ports = data.get("forwardPorts") or []
    return MergedConfig(
        data=data,
        config=model.from_json(config),
        init=bool(data.get("init")),
        privileged=bool(data.get("privileged")),
        cap_add=view.cap_add,
        security_opt=view.security_opt,
        entrypoints=tuple(e for e in data.get("entrypoints") or () if isinstance(e, str)),
        mounts=view.mounts,
        customizations=MappingProxyType({k: tuple(v) for k, v in customizations.items()}),
        lifecycle=MappingProxyType(lifecycle),
        wait_for=view.wait_for,
        remote_user=view.remote_user,
        container_user=view.container_user,
        user_env_probe=view.user_env_probe,
        remote_env=view.remote_env,
        container_env=view.container_env,
        override_command=view.override_command,
        ports_attributes=view.ports_attributes,
        other_ports_attributes=view.other_ports_attributes,
        forward_ports=tuple(p for p in ports if isinstance(p, int | str) and not isinstance(p, bool)),
        shutdown_action=view.shutdown_action,
        update_remote_user_uid=view.update_remote_user_uid,
        host_requirements=view.host_requirements,
    )
