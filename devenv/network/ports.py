"""From devcontainer.json's port properties to :class:`PortMapping` values and a :class:`PortsPolicy` (pure).

- ``forwardPorts``: ``3000`` or ``"host:3000"``. A number, like ``"localhost:3000"``, forwards the
  container's own port; ``"db:5432"`` forwards a port of another host as the container sees it. The host
  side is the same number if free, else the next free one (``requireLocalPort``: exactly that or an error).
- ``appPort``: a number is published on the same host port (exactly); a string uses Docker's ``-p`` syntax
  ``[ip:][hostPort:]containerPort[/tcp|udp]`` (ranges ``8000-8002:8000-8002`` too; no host port = any free).
- ``portsAttributes`` keys: a port, a range ``"40000-55000"`` or a regular expression matched against the
  command line of the process that listens. An exact port wins over a range, a range over an expression.
- ``otherPortsAttributes``: for ports that no key matches.

Host addresses default to 127.0.0.1; only an address written in ``appPort`` changes it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Literal, cast

from devenv.errors import ConfigError
from devenv.runtime.base import OnAutoForward, PortAttributes, PortMapping, PortsPolicy

_FORWARD = re.compile(r"^([A-Za-z0-9.-]+):(\d{1,5})$")  # the schema allows [a-z0-9-]; names with dots work too
_RANGE = re.compile(r"^(\d{1,5})-(\d{1,5})$")
_APP = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+):)??(?:(?P<host>\d{0,5}(?:-\d{1,5})?):)?"
    r"(?P<container>\d{1,5}(?:-\d{1,5})?)(?:/(?P<proto>tcp|udp))?$"
)
_ON_AUTO = ("notify", "openBrowser", "openBrowserOnce", "openPreview", "silent", "ignore")
LOCALHOST = ("localhost", "127.0.0.1")


def _port(value: int, pointer: str) -> int:
    if not 1 <= value <= 65535:
        raise ConfigError(f"expected a port number from 1 to 65535, got {value}", pointer=pointer)
    return value


def parse_forward_ports(value: Any, attrs: PortsPolicy | None = None) -> tuple[PortMapping, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError("expected an array of ports", pointer="forwardPorts")
    found: dict[tuple[str, int], PortMapping] = {}
    for i, item in enumerate(value):
        pointer = f"forwardPorts[{i}]"
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise ConfigError(f'expected a port number or "host:port", got {item!r}', pointer=pointer)
        host = ""
        if isinstance(item, int):
            port = _port(item, pointer)
        elif item.isdigit():
            port = _port(int(item), pointer)
        else:
            match = _FORWARD.match(item)
            if not match:
                raise ConfigError(f'expected a port number or "host:port", got {item!r}', pointer=pointer)
            host, port = match.group(1), _port(int(match.group(2)), pointer)
            host = "" if host in LOCALHOST else host
        if (host, port) in found:
            continue
        a = attributes_for(port, attrs or PortsPolicy())
        found[(host, port)] = PortMapping(
            container_port=port,
            host_port=port,
            label=a.label,
            require_local_port=a.require_local_port,
            elevate_if_needed=a.elevate_if_needed,
            target_host=host,
        )
    return tuple(found.values())


def _span(text: str, pointer: str) -> list[int]:
    if "-" in text:
        lo, hi = (int(x) for x in text.split("-", 1))
        if hi < lo:
            raise ConfigError(f"port range {text} ends before it starts", pointer=pointer)
        return [_port(p, pointer) for p in range(lo, hi + 1)]
    return [_port(int(text), pointer)]


def parse_app_port(value: Any, attrs: PortsPolicy | None = None) -> tuple[PortMapping, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    result: list[PortMapping] = []
    for i, item in enumerate(items):
        pointer = f"appPort[{i}]" if isinstance(value, list) else "appPort"
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise ConfigError(f'expected a port number or "[ip:]hostPort:containerPort", got {item!r}', pointer=pointer)
        if isinstance(item, int):
            port = _port(item, pointer)
            a = attributes_for(port, attrs or PortsPolicy())
            result.append(PortMapping(port, port, label=a.label, require_local_port=True))
            continue
        match = _APP.match(item.strip())
        if not match:
            raise ConfigError(f'expected "[ip:]hostPort:containerPort[/tcp|udp]", got {item!r}', pointer=pointer)
        ip = (match.group("ip") or "127.0.0.1").strip("[]")
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ConfigError(f"{ip!r} is not an IP address", pointer=pointer) from None
        containers = _span(match.group("container"), pointer)
        hosts = _span(match.group("host"), pointer) if match.group("host") else [0] * len(containers)
        if len(hosts) != len(containers):
            raise ConfigError(f"host and container port ranges differ in length in {item!r}", pointer=pointer)
        proto = cast(Literal["tcp", "udp"], match.group("proto") or "tcp")
        for host_port, container_port in zip(hosts, containers, strict=True):
            a = attributes_for(container_port, attrs or PortsPolicy())
            result.append(PortMapping(container_port, host_port, ip, proto, a.label, require_local_port=host_port != 0))
    return tuple(result)


def _bool(entry: Mapping[str, Any], key: str, pointer: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"expected true or false, got {value!r}", pointer=f"{pointer}.{key}")
    return value


def parse_attributes(entry: Any, pointer: str) -> PortAttributes:
    if not isinstance(entry, dict):
        raise ConfigError(f"expected an object, got {entry!r}", pointer=pointer)
    label = entry.get("label")
    if label is not None and not isinstance(label, str):
        raise ConfigError(f"expected a string, got {label!r}", pointer=f"{pointer}.label")
    on_auto = entry.get("onAutoForward", "notify")
    if on_auto not in _ON_AUTO:
        raise ConfigError(f"expected one of {', '.join(_ON_AUTO)}, got {on_auto!r}", pointer=f"{pointer}.onAutoForward")
    protocol = entry.get("protocol")
    if protocol not in (None, "http", "https"):
        raise ConfigError(f'expected "http" or "https", got {protocol!r}', pointer=f"{pointer}.protocol")
    return PortAttributes(
        label=label,
        on_auto_forward=cast(OnAutoForward, on_auto),
        require_local_port=_bool(entry, "requireLocalPort", pointer),
        elevate_if_needed=_bool(entry, "elevateIfNeeded", pointer),
        protocol=protocol,
    )


def parse_policy(ports_attributes: Any, other_ports_attributes: Any, *, auto_forward: bool = True) -> PortsPolicy:
    attributes: list[tuple[str, PortAttributes]] = []
    if ports_attributes is not None:
        if not isinstance(ports_attributes, dict):
            raise ConfigError("expected an object", pointer="portsAttributes")
        for key, entry in ports_attributes.items():
            pointer = f"portsAttributes[{key!r}]"
            if not key.isdigit() and not _RANGE.match(key):
                try:
                    re.compile(key)
                except re.error as exc:
                    raise ConfigError(
                        f"not a port, a port range or a regular expression: {exc}", pointer=pointer
                    ) from None
            attributes.append((key, parse_attributes(entry, pointer)))
    other = None
    if other_ports_attributes is not None:
        other = parse_attributes(other_ports_attributes, "otherPortsAttributes")
    return PortsPolicy(tuple(attributes), other, auto_forward)


def from_config(
    forward_ports: Any = None,
    app_port: Any = None,
    ports_attributes: Any = None,
    other_ports_attributes: Any = None,
    *,
    auto_forward: bool = True,
) -> tuple[tuple[PortMapping, ...], PortsPolicy]:
    """The mappings and the policy for a workspace, from the merged configuration's raw values.

    Put both in the :class:`ContainerSpec` (``ports``, ``ports_policy``). Errors are :class:`ConfigError`
    with a JSON pointer (``forwardPorts[1]``); the caller may add the file position.
    """
    policy = parse_policy(ports_attributes, other_ports_attributes, auto_forward=auto_forward)
    mappings = parse_forward_ports(forward_ports, policy) + parse_app_port(app_port, policy)
    unique: dict[PortMapping, None] = dict.fromkeys(mappings)
    return tuple(unique), policy


def attributes_for(port: int, policy: PortsPolicy, command_line: str | None = None) -> PortAttributes:
    """The attributes for ``port``: exact port, else range, else expression on ``command_line``, else other."""
    for key, attrs in policy.attributes:
        if key.isdigit() and int(key) == port:
            return attrs
    for key, attrs in policy.attributes:
        match = _RANGE.match(key)
        if match and int(match.group(1)) <= port <= int(match.group(2)):
            return attrs
    if command_line is not None:
        for key, attrs in policy.attributes:
            if not key.isdigit() and not _RANGE.match(key) and re.search(key, command_line):
                return attrs
    return policy.other or PortAttributes()


def has_expressions(policy: PortsPolicy) -> bool:
    """Whether matching needs the listening process's command line."""
    return any(not key.isdigit() and not _RANGE.match(key) for key, _ in policy.attributes)


def _attrs_dict(value: Any) -> Any:
    """A portsAttributes value as the JSON object it came from (a dict, or an object with snake_case fields)."""
    if value is None or isinstance(value, dict):
        return value
    keys = {
        "label": "label",
        "on_auto_forward": "onAutoForward",
        "require_local_port": "requireLocalPort",
        "elevate_if_needed": "elevateIfNeeded",
        "protocol": "protocol",
    }
    return {json_key: getattr(value, attr) for attr, json_key in keys.items() if getattr(value, attr, None) is not None}


def from_merged(
    forward_ports: Any,
    app_port: Any,
    ports_attributes: Mapping[str, Any] | None,
    other_ports_attributes: Any,
    *,
    auto_forward: bool = True,
) -> tuple[tuple[PortMapping, ...], PortsPolicy]:
    """:func:`from_config` for the merged configuration's typed values (``devenv.config`` model objects
    with ``label``, ``on_auto_forward``, ... fields, or plain JSON objects)::

        ports, policy = from_merged(merged.forward_ports, config.app_port, merged.ports_attributes,
                                    merged.other_ports_attributes)
        ContainerSpec(..., ports=ports, ports_policy=policy)
    """
    attrs = {k: _attrs_dict(v) for k, v in (ports_attributes or {}).items()}
    fwd = list(forward_ports) if forward_ports is not None else None
    app = list(app_port) if isinstance(app_port, tuple | list) else app_port
    return from_config(fwd, app or None, attrs or None, _attrs_dict(other_ports_attributes), auto_forward=auto_forward)
