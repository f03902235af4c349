"""Container specs and records as plain JSON-shaped dicts: the currency of the runtime's start path.

A :class:`~devenv.runtime.base.ContainerSpec` is a frozen dataclass, and importing the contract module
(with :mod:`dataclasses` and :mod:`typing`) costs a good part of what ``devenv container run`` may
spend in all. So the create/start code (:mod:`.lifecycle`, :mod:`.plan`) works on the dict a
ContainerSpec becomes in ``container.json`` (``dataclasses.asdict`` of it), built here either from a
ContainerSpec (:func:`from_spec`, the library API) or directly (:func:`spec_dict`, the CLI's fast path).
A unit test keeps :func:`spec_dict`'s defaults equal to ContainerSpec's.

The ``TypedDict`` shapes exist for the type checker only (this module imports nothing at run time).
"""

from __future__ import annotations

TYPE_CHECKING = False  # (typing is not imported at run time: start-up time)
if TYPE_CHECKING:
    from typing import Any, TypedDict

    from devenv.runtime.base import ContainerSpec

    class MountDict(TypedDict):
        type: str  # bind | volume | tmpfs
        target: str
        source: str
        read_only: bool
        options: list[str]

    class ResourcesDict(TypedDict):
        memory_bytes: int | None
        cpus: float | None
        pids_limit: int | None

    class SpecDict(TypedDict):
        image: str
        command: list[str]
        name: str | None
        env: list[str]
        user: str
        workdir: str
        hostname: str | None
        labels: dict[str, str]
        mounts: list[MountDict]
        network: str
        ports: list[dict[str, Any]]  # PortMapping fields
        ports_policy: dict[str, Any]  # PortsPolicy fields
        init: bool
        privileged: bool
        cap_add: list[str]
        cap_drop: list[str]
        security_opt: list[str]
        resources: ResourcesDict
        rootfs: list[dict[str, Any]]  # Mount fields
        stop_signal: str
        stop_timeout: float

    class RecordDict(TypedDict):
        id: str
        name: str
        created: float
        spec: SpecDict
        image_id: str | None
        rootfs_driver: str
        lower: list[str]
        anonymous_volumes: list[str]
        volumes: dict[str, str]
        auto_remove: bool
        hostname: str
        tty: bool
        stdin_open: bool
        argv: list[str]
        env: list[str]
        user: str
        workdir: str


def spec_dict(
    image: str,
    *,
    command: list[str] | None = None,
    name: str | None = None,
    env: list[str] | None = None,
    user: str = "",
    workdir: str = "",
    hostname: str | None = None,
    labels: dict[str, str] | None = None,
    mounts: list[MountDict] | None = None,
    network: str = "bridge",
    ports: list[dict[str, Any]] | None = None,
    init: bool = True,
    privileged: bool = False,
    cap_add: list[str] | None = None,
    cap_drop: list[str] | None = None,
    security_opt: list[str] | None = None,
    memory_bytes: int | None = None,
    cpus: float | None = None,
    pids_limit: int | None = None,
    stop_signal: str = "SIGTERM",
    stop_timeout: float = 10.0,
) -> SpecDict:
    """The dict of ``ContainerSpec(image, ...)`` (same keys and defaults)."""
    return {
        "image": image,
        "command": list(command or ()),
        "name": name,
        "env": list(env or ()),
        "user": user,
        "workdir": workdir,
        "hostname": hostname,
        "labels": dict(labels or {}),
        "mounts": list(mounts or ()),
        "network": network,
        "ports": list(ports or ()),
        "ports_policy": {"attributes": [], "other": None, "auto_forward": False},
        "init": init,
        "privileged": privileged,
        "cap_add": list(cap_add or ()),
        "cap_drop": list(cap_drop or ()),
        "security_opt": list(security_opt or ()),
        "resources": {"memory_bytes": memory_bytes, "cpus": cpus, "pids_limit": pids_limit},
        "rootfs": [],
        "stop_signal": stop_signal,
        "stop_timeout": stop_timeout,
    }


def mount_dict(
    type: str, target: str, source: str = "", read_only: bool = False, options: list[str] | None = None
) -> MountDict:
    """The dict of a :class:`~devenv.runtime.base.MountSpec`."""
    return {"type": type, "target": target, "source": source, "read_only": read_only, "options": list(options or ())}


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively: the shape the dict has after a trip through JSON."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def from_spec(spec: ContainerSpec) -> SpecDict:
    """The dict of a ContainerSpec (what ``container.json`` holds)."""
    from dataclasses import asdict

    raw = asdict(spec)
    raw["labels"] = dict(spec.labels)
    result: SpecDict = _plain(raw)
    return result


def mount_of(m: Any) -> MountDict:
    """A MountSpec (or its dict) as a dict."""
    if isinstance(m, dict):
        return m  # type: ignore[return-value]
    return mount_dict(m.type, m.target, m.source, m.read_only, list(m.options))


def port_of(p: Any) -> dict[str, Any]:
    """A PortMapping (or its dict) as a dict."""
    if isinstance(p, dict):
        return p
    fields = ("container_port", "host_port", "host_ip", "protocol", "label", "require_local_port")
    return {f: getattr(p, f) for f in (*fields, "elevate_if_needed", "target_host")}
