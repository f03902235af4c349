"""Persisted network records: one attachment per container, and the ports its forwarder serves.

``<data root>/network/attachments/<container id>.json`` is written by :func:`devenv.network.attach`;
``<id>.ports.json`` is rewritten (atomically) by the forwarder whenever a port starts or stops being
forwarded; ``<id>.forwarder.log`` is the forwarder's stderr.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from devenv.errors import NetworkError
from devenv.fsutil import atomic_write_json
from devenv.network import settings
from devenv.runtime.base import NetworkMode, PortAttributes, PortMapping, PortsPolicy

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class Attachment:
    """A container's network, as :func:`devenv.network.attach` set it up."""

    container_id: str
    mode: NetworkMode
    ip: str | None = None  # bridge mode: the container's address ("10.242.0.2")
    prefix_len: int | None = None  # 24
    gateway: str | None = None  # the bridge's address, the container's default route
    bridge: str | None = None
    veth: str | None = None  # the host end of the container's veth pair
    ports: tuple[PortMapping, ...] = ()  # configured mappings with the host ports actually bound
    dns_servers: tuple[str, ...] = ()  # what resolv_conf lists
    resolv_conf: str = ""  # text for the container's /etc/resolv.conf
    policy: PortsPolicy = field(default_factory=PortsPolicy)
    netns: str = ""  # the namespace path given to attach ("/proc/PID/ns/net" for a pid)
    forwarder_pid: int | None = None
    forwarder_start: int | None = None  # start time of forwarder_pid (field 22 of /proc/PID/stat)
    dns_proxy: tuple[str, ...] = ()  # host resolvers the forwarder's DNS proxy relays to


@dataclass(frozen=True)
class ForwardedPort:
    """One port the forwarder serves (what ``devenv ports`` lists)."""

    container_port: int
    host_ip: str
    host_port: int
    protocol: str = "tcp"
    label: str | None = None
    source: Literal["configured", "auto"] = "configured"
    target_host: str = ""
    on_auto_forward: str | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{host}:{self.host_port}"


@dataclass(frozen=True)
class PortsState:
    ports: tuple[ForwardedPort, ...] = ()
    skipped: tuple[str, ...] = ()  # why some listening ports were not forwarded (e.g. port in use)


def check_id(container_id: str) -> str:
    if not _ID.match(container_id):
        raise NetworkError(f"{container_id!r} is not a valid container id for networking")
    return container_id


def directory() -> Path:
    return settings.state_dir() / "attachments"


def record_path(container_id: str) -> Path:
    return directory() / f"{check_id(container_id)}.json"


def ports_path(container_id: str) -> Path:
    return directory() / f"{check_id(container_id)}.ports.json"


def log_path(container_id: str) -> Path:
    return directory() / f"{check_id(container_id)}.forwarder.log"


def save(att: Attachment) -> None:
    # (no fsync: after a power loss every container is stopped anyway; an empty record reads as none)
    atomic_write_json(record_path(att.container_id), asdict(att), mode=0o600, sync=False)


def _mapping(d: dict[str, Any]) -> PortMapping:
    return PortMapping(**d)


def _policy(d: dict[str, Any]) -> PortsPolicy:
    attrs = tuple((k, PortAttributes(**v)) for k, v in d.get("attributes", []))
    other = PortAttributes(**d["other"]) if d.get("other") else None
    return PortsPolicy(attrs, other, bool(d.get("auto_forward", False)))


def load(container_id: str) -> Attachment | None:
    try:
        text = record_path(container_id).read_text(encoding="utf-8")
        if not text.strip():  # what a power loss can leave of an unsynced record
            return None
        data = json.loads(text)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise NetworkError(f"the network record of {container_id} is damaged: {exc}") from None
    data["ports"] = tuple(_mapping(p) for p in data.get("ports", []))
    data["policy"] = _policy(data.get("policy", {}))
    data["dns_servers"] = tuple(data.get("dns_servers", []))
    data["dns_proxy"] = tuple(data.get("dns_proxy", []))
    data["mode"] = cast(NetworkMode, data["mode"])
    return Attachment(**data)


def all_ids() -> list[str]:
    d = directory()
    if not d.is_dir():
        return []
    return sorted(p.name[: -len(".json")] for p in d.glob("*.json") if not p.name.endswith(".ports.json"))


def remove(container_id: str) -> None:
    for path in (record_path(container_id), ports_path(container_id), log_path(container_id)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def save_ports(container_id: str, state: PortsState) -> None:
    atomic_write_json(ports_path(container_id), asdict(state), sync=False)


def load_ports(container_id: str) -> PortsState:
    try:
        data = json.loads(ports_path(container_id).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return PortsState()
    return PortsState(tuple(ForwardedPort(**p) for p in data.get("ports", [])), tuple(data.get("skipped", [])))
