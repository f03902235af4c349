"""Typed, frozen dataclasses for every property of devcontainer.json.

A field is ``None`` (or empty) when the file does not set it, so that merging can tell "unset" from
"set to the default"; the ``effective_*`` properties apply the spec's defaults. Lists are tuples,
maps are read-only mappings. :func:`from_json` builds the model from an already validated (and
usually already substituted) JSON object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

CommandEntry = str | tuple[str, ...]
"""One command: a string run by ``/bin/sh -c``, or an argv run directly."""

LifecycleCommand = str | tuple[str, ...] | Mapping[str, CommandEntry]
"""A lifecycle hook: string, argv, or ``{name: command}`` run in parallel."""

ConfigKind = Literal["image", "dockerfile", "compose", "none"]
PortRef = int | str

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def frozen_map(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value)) if value else _EMPTY


@dataclass(frozen=True)
class BuildConfig:
    """``build`` (or the legacy top-level ``dockerFile`` + ``context``). Paths are relative to the config folder."""

    dockerfile: str | None = None
    context: str | None = None
    args: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    target: str | None = None
    cache_from: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class ComposeConfig:
    files: tuple[str, ...]
    service: str | None = None
    run_services: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FeatureRequest:
    """One entry of ``features``: the reference as written, and its options (a string means ``version``)."""

    ref: str
    options: Mapping[str, str | bool] = field(default_factory=lambda: _EMPTY)
    value: Any = None  # as written: {}, {"opt": ...}, "1.2" or true


@dataclass(frozen=True)
class PortAttributes:
    label: str | None = None
    on_auto_forward: str | None = None
    elevate_if_needed: bool | None = None
    require_local_port: bool | None = None
    protocol: str | None = None


@dataclass(frozen=True)
class Mount:
    """A mount, from a Docker ``--mount`` string or an object. ``raw`` keeps the form as written."""

    type: str
    target: str
    source: str | None = None
    options: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    raw: str | Mapping[str, Any] = ""


@dataclass(frozen=True)
class GpuRequirement:
    required: bool | Literal["optional"] = False
    cores: int | None = None
    memory: str | None = None


@dataclass(frozen=True)
class HostRequirements:
    cpus: int | None = None
    memory: str | None = None
    storage: str | None = None
    gpu: GpuRequirement | None = None


@dataclass(frozen=True)
class Secret:
    description: str | None = None
    documentation_url: str | None = None


@dataclass(frozen=True)
class DevContainerConfig:
    """Every property of the Dev Container spec, typed. ``None`` means "not set in the file"."""

    name: str | None = None
    image: str | None = None
    build: BuildConfig | None = None
    compose: ComposeConfig | None = None
    features: tuple[FeatureRequest, ...] = ()
    override_feature_install_order: tuple[str, ...] | None = None
    forward_ports: tuple[PortRef, ...] = ()
    app_port: tuple[PortRef, ...] = ()
    ports_attributes: Mapping[str, PortAttributes] = field(default_factory=lambda: _EMPTY)
    other_ports_attributes: PortAttributes | None = None
    mounts: tuple[Mount, ...] = ()
    workspace_mount: str | None = None
    workspace_folder: str | None = None
    container_env: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    remote_env: Mapping[str, str | None] = field(default_factory=lambda: _EMPTY)
    container_user: str | None = None
    remote_user: str | None = None
    update_remote_user_uid: bool | None = None
    user_env_probe: str | None = None
    run_args: tuple[str, ...] = ()
    privileged: bool | None = None
    cap_add: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    init: bool | None = None
    override_command: bool | None = None
    shutdown_action: str | None = None
    host_requirements: HostRequirements | None = None
    secrets: Mapping[str, Secret] = field(default_factory=lambda: _EMPTY)
    initialize_command: LifecycleCommand | None = None
    on_create_command: LifecycleCommand | None = None
    update_content_command: LifecycleCommand | None = None
    post_create_command: LifecycleCommand | None = None
    post_start_command: LifecycleCommand | None = None
    post_attach_command: LifecycleCommand | None = None
    wait_for: str | None = None
    customizations: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def kind(self) -> ConfigKind:
        """How the container is made, chosen like the reference: Dockerfile, then image, then compose."""
        if self.build is not None and self.build.dockerfile is not None:
            return "dockerfile"
        if self.image is not None:
            return "image"
        if self.compose is not None:
            return "compose"
        return "none"

    @property
    def effective_override_command(self) -> bool:
        return self.override_command if self.override_command is not None else self.kind != "compose"

    @property
    def effective_shutdown_action(self) -> str:
        if self.shutdown_action is not None:
            return self.shutdown_action
        return "stopCompose" if self.kind == "compose" else "stopContainer"

    @property
    def effective_user_env_probe(self) -> str:
        return self.user_env_probe or "loginInteractiveShell"

    @property
    def effective_wait_for(self) -> str:
        return self.wait_for or "updateContentCommand"

    @property
    def effective_update_remote_user_uid(self) -> bool:
        return self.update_remote_user_uid if self.update_remote_user_uid is not None else True

    def lifecycle(self, hook: str) -> LifecycleCommand | None:
        """A hook by its devcontainer.json name (``postCreateCommand``...)."""
        return getattr(self, _HOOK_FIELDS[hook])  # type: ignore[no-any-return]


_HOOK_FIELDS = {
    "initializeCommand": "initialize_command",
    "onCreateCommand": "on_create_command",
    "updateContentCommand": "update_content_command",
    "postCreateCommand": "post_create_command",
    "postStartCommand": "post_start_command",
    "postAttachCommand": "post_attach_command",
}


def _text(value: Any) -> str:
    from devenv.config.validate import js_string

    return value if isinstance(value, str) else js_string(value)


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _ports(value: Any) -> tuple[PortRef, ...]:
    items = value if isinstance(value, list) else [value] if value is not None else []
    return tuple(p for p in items if isinstance(p, int | str) and not isinstance(p, bool))


def _env(value: Any, nullable: bool = False) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        return _EMPTY
    return frozen_map({k: (None if v is None and nullable else _text(v)) for k, v in value.items()})


def lifecycle_command(value: Any) -> LifecycleCommand | None:
    """A hook value as the model holds it: ``str``, ``tuple`` of argv, or a read-only ``{name: command}``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return tuple(_text(v) for v in value)
    if isinstance(value, dict):
        entries: dict[str, CommandEntry] = {}
        for name, entry in value.items():
            if isinstance(entry, str):
                entries[name] = entry
            elif isinstance(entry, list):
                entries[name] = tuple(_text(v) for v in entry)
        return MappingProxyType(entries)
    return None


def _port_attributes(value: Any) -> PortAttributes | None:
    if not isinstance(value, dict):
        return None
    return PortAttributes(
        label=_opt_str(value.get("label")),
        on_auto_forward=_opt_str(value.get("onAutoForward")),
        elevate_if_needed=_opt_bool(value.get("elevateIfNeeded")),
        require_local_port=_opt_bool(value.get("requireLocalPort")),
        protocol=_opt_str(value.get("protocol")),
    )


_MOUNT_KEYS = {"src": "source", "destination": "target", "dst": "target"}


def parse_mount_string(text: str) -> Mount:
    """A Docker ``--mount`` string: ``type=bind,source=/a,target=/b,readonly``.

    Like the reference, keys are split at the first ``=``; ``src``/``source`` and
    ``dst``/``destination``/``target`` are synonyms; the type defaults to ``volume``.
    """
    options: dict[str, str] = {}
    for part in text.split(","):
        key, sep, val = part.partition("=")
        key = _MOUNT_KEYS.get(key.strip(), key.strip())
        options[key] = val if sep else "true"
    source = options.pop("source", None)
    target = options.pop("target", "")
    kind = options.pop("type", None) or "volume"
    return Mount(type=kind, target=target, source=source, options=frozen_map(options), raw=text)


def _mount(value: Any) -> Mount | None:
    if isinstance(value, str):
        return parse_mount_string(value)
    if isinstance(value, dict):
        return Mount(
            type=_opt_str(value.get("type")) or "bind",
            target=_opt_str(value.get("target")) or "",
            source=_opt_str(value.get("source")),
            raw=frozen_map(value),
        )
    return None


def _host_requirements(value: Any) -> HostRequirements | None:
    if not isinstance(value, dict):
        return None
    gpu_value = value.get("gpu")
    gpu: GpuRequirement | None = None
    if isinstance(gpu_value, bool):
        gpu = GpuRequirement(required=gpu_value)
    elif gpu_value == "optional":
        gpu = GpuRequirement(required="optional")
    elif isinstance(gpu_value, dict):
        cores = gpu_value.get("cores")
        gpu = GpuRequirement(
            required=True,
            cores=cores if isinstance(cores, int) and not isinstance(cores, bool) else None,
            memory=_opt_str(gpu_value.get("memory")),
        )
    cpus = value.get("cpus")
    return HostRequirements(
        cpus=cpus if isinstance(cpus, int) and not isinstance(cpus, bool) else None,
        memory=_opt_str(value.get("memory")),
        storage=_opt_str(value.get("storage")),
        gpu=gpu,
    )


def _features(value: Any) -> tuple[FeatureRequest, ...]:
    if not isinstance(value, dict):
        return ()
    out = []
    for ref, options in value.items():
        if isinstance(options, dict):
            opts = {k: v if isinstance(v, str | bool) else _text(v) for k, v in options.items()}
        elif isinstance(options, str):
            opts = {"version": options}
        else:
            opts = {}
        out.append(FeatureRequest(ref=ref, options=frozen_map(opts), value=options))
    return tuple(out)


def _build(data: Mapping[str, Any]) -> BuildConfig | None:
    build = data.get("build")
    build = build if isinstance(build, dict) else {}
    legacy = _opt_str(data.get("dockerFile"))
    if not build and legacy is None:
        return None
    args = build.get("args")
    return BuildConfig(
        dockerfile=legacy if legacy is not None else _opt_str(build.get("dockerfile")),
        context=_opt_str(data.get("context")) if legacy is not None else _opt_str(build.get("context")),
        args=_env(args),
        target=_opt_str(build.get("target")),
        cache_from=_strings(build.get("cacheFrom")),
        options=_strings(build.get("options")),
    )


def from_json(data: Mapping[str, Any]) -> DevContainerConfig:
    """The typed model of a (validated) devcontainer.json object."""
    compose_files = data.get("dockerComposeFile")
    compose = None
    if "dockerComposeFile" in data:
        run_services = data.get("runServices")
        compose = ComposeConfig(
            files=_strings(compose_files),
            service=_opt_str(data.get("service")),
            run_services=_strings(run_services) if isinstance(run_services, list) else None,
        )
    ports_attributes = data.get("portsAttributes")
    secrets = data.get("secrets")
    order = data.get("overrideFeatureInstallOrder")
    customizations = data.get("customizations")
    return DevContainerConfig(
        name=_opt_str(data.get("name")),
        image=_opt_str(data.get("image")),
        build=_build(data),
        compose=compose,
        features=_features(data.get("features")),
        override_feature_install_order=_strings(order) if isinstance(order, list) else None,
        forward_ports=_ports(data.get("forwardPorts")),
        app_port=_ports(data.get("appPort")),
        ports_attributes=frozen_map(
            {k: a for k, v in ports_attributes.items() if (a := _port_attributes(v)) is not None}
            if isinstance(ports_attributes, dict)
            else None
        ),
        other_ports_attributes=_port_attributes(data.get("otherPortsAttributes")),
        mounts=tuple(m for v in data.get("mounts") or () if (m := _mount(v)) is not None)
        if isinstance(data.get("mounts"), list)
        else (),
        workspace_mount=_opt_str(data.get("workspaceMount")),
        workspace_folder=_opt_str(data.get("workspaceFolder")),
        container_env=_env(data.get("containerEnv")),
        remote_env=_env(data.get("remoteEnv"), nullable=True),
        container_user=_opt_str(data.get("containerUser")),
        remote_user=_opt_str(data.get("remoteUser")),
        update_remote_user_uid=_opt_bool(data.get("updateRemoteUserUID")),
        user_env_probe=_opt_str(data.get("userEnvProbe")),
        run_args=_strings(data.get("runArgs")) if isinstance(data.get("runArgs"), list) else (),
        privileged=_opt_bool(data.get("privileged")),
        cap_add=_strings(data.get("capAdd")) if isinstance(data.get("capAdd"), list) else (),
        security_opt=_strings(data.get("securityOpt")) if isinstance(data.get("securityOpt"), list) else (),
        init=_opt_bool(data.get("init")),
        override_command=_opt_bool(data.get("overrideCommand")),
        shutdown_action=_opt_str(data.get("shutdownAction")),
        host_requirements=_host_requirements(data.get("hostRequirements")),
        secrets=frozen_map(
            {
                k: Secret(_opt_str(v.get("description")), _opt_str(v.get("documentationUrl")))
                for k, v in secrets.items()
                if isinstance(v, dict)
            }
            if isinstance(secrets, dict)
            else None
        ),
        initialize_command=lifecycle_command(data.get("initializeCommand")),
        on_create_command=lifecycle_command(data.get("onCreateCommand")),
        update_content_command=lifecycle_command(data.get("updateContentCommand")),
        post_create_command=lifecycle_command(data.get("postCreateCommand")),
        post_start_command=lifecycle_command(data.get("postStartCommand")),
        post_attach_command=lifecycle_command(data.get("postAttachCommand")),
        wait_for=_opt_str(data.get("waitFor")),
        customizations=frozen_map(customizations if isinstance(customizations, dict) else None),
    )
