"""The container record (``container.json``): the spec as JSON and back, and the Container view.

A :class:`~devenv.runtime.base.Container` is built from the record and the (refreshed) state every time
it is asked for; nothing caches the status.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from devenv.runtime.base import (
    Container,
    ContainerSpec,
    ContainerStatus,
    MountSpec,
    PortAttributes,
    PortMapping,
    PortsPolicy,
    Resources,
)
from devenv.runtime.embedded import layout, state
from devenv.snapshots.base import Mount

if TYPE_CHECKING:
    from devenv.runtime.embedded.specs import RecordDict


def spec_to_dict(spec: ContainerSpec) -> dict[str, Any]:
    raw = asdict(spec)
    raw["labels"] = dict(spec.labels)
    return raw


def _tuple_of(cls: Any, items: Any) -> tuple[Any, ...]:
    return tuple(cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in item.items()}) for item in items or ())


def spec_from_dict(raw: dict[str, Any]) -> ContainerSpec:
    data = dict(raw)
    data["mounts"] = _tuple_of(MountSpec, data.get("mounts"))
    data["ports"] = _tuple_of(PortMapping, data.get("ports"))
    data["rootfs"] = _tuple_of(Mount, data.get("rootfs"))
    data["resources"] = Resources(**(data.get("resources") or {}))
    if "ports_policy" in data:
        pol = data["ports_policy"] or {}
        attrs = tuple((key, PortAttributes(**value)) for key, value in pol.get("attributes") or ())
        other = PortAttributes(**pol["other"]) if pol.get("other") else None
        data["ports_policy"] = PortsPolicy(attrs, other, bool(pol.get("auto_forward")))
    for key in ("command", "env", "cap_add", "cap_drop", "security_opt"):
        data[key] = tuple(data.get(key) or ())
    known = set(ContainerSpec.__dataclass_fields__)
    return ContainerSpec(**{k: v for k, v in data.items() if k in known})


@dataclass
class Record:
    id: str
    name: str
    created: float
    spec: ContainerSpec
    image_id: str | None = None
    rootfs_driver: str = "overlay"  # or "copy"
    lower: list[str] = field(default_factory=list)  # host dirs, lowest first
    anonymous_volumes: list[str] = field(default_factory=list)
    volumes: dict[str, str] = field(default_factory=dict)  # mount target -> volume name
    auto_remove: bool = False
    hostname: str = ""
    tty: bool = False
    stdin_open: bool = False
    argv: list[str] = field(default_factory=list)  # entrypoint + cmd, resolved at create
    env: list[str] = field(default_factory=list)  # image env, then the spec's
    user: str = ""
    workdir: str = ""

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["spec"] = spec_to_dict(self.spec)
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Record:
        data = dict(raw)
        data["spec"] = spec_from_dict(data["spec"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def load(state_dir: str) -> Record:
    return Record.from_dict(dict(load_raw(state_dir)))


def load_raw(state_dir: str) -> RecordDict:
    """The record as the JSON dict :mod:`.lifecycle` works on."""
    raw: RecordDict = layout.read_json(os.path.join(state_dir, layout.RECORD))
    return raw


def save(state_dir: str, record: Record, *, sync: bool = True) -> None:
    """Atomic replace; ``sync``: fsync first (a container that must survive a power loss)."""
    layout.write_json(os.path.join(state_dir, layout.RECORD), record.to_dict(), sync=sync)


def to_container(record: Record, st: state.State) -> Container:
    status = {"running": ContainerStatus.RUNNING, "stopped": ContainerStatus.STOPPED}.get(
        st.status, ContainerStatus.CREATED
    )
    running = status is ContainerStatus.RUNNING
    return Container(
        id=record.id,
        name=record.name,
        spec=record.spec,
        status=status,
        created=record.created,
        pid=st.init.pid if running and st.init else None,
        started_at=st.started_at,
        finished_at=None if running else st.finished_at,
        exit_code=None if running else st.exit_code,
        image_id=record.image_id,
        ip_address=st.ip_address if running else None,
        ports=tuple(PortMapping(**p) for p in st.ports) if running else (),
    )
