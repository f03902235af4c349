"""Network settings: bridge name, subnet, firewall backend, DNS; and where network state is kept.

Each setting comes from the environment, else from ``<data root>/network/settings.json``, else a default:

=====================  =======================  ======================================================
environment            settings.json key        default
=====================  =======================  ======================================================
``DEVENV_BRIDGE``      ``bridge``               ``devenv0``; with a custom ``DEVENV_ROOT``:
                                                ``dv-<8 hex of the root path>`` (roots never share)
``DEVENV_SUBNET``      ``subnet``               the first /24 of 10.242.0.0/16 the host does not route
``DEVENV_FIREWALL``    ``firewall``             ``auto`` (iptables if installed, else nftables)
``DEVENV_DNS``         ``dns``                  the host's resolv.conf servers (comma-separated)
``DEVENV_RESOLV_CONF`` ``resolv_conf``          ``/etc/resolv.conf`` (the host file DNS is taken from)
``DEVENV_AUTOFORWARD_INTERVAL`` ``autoforward_interval``  ``1.0`` seconds between listener scans
``DEVENV_BRIDGE_LINGER`` ``bridge_linger``      ``10`` seconds a bridge nobody uses stays up (with its
                                                rules) for the next container; ``0``: removed at once
=====================  =======================  ======================================================
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from devenv import paths
from devenv.errors import ConfigError, NetworkError
from devenv.network.firewall import FirewallChoice

DEFAULT_BRIDGE = "devenv0"
SUBNET_POOL = ipaddress.IPv4Network("10.242.0.0/16")
_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")


@dataclass(frozen=True)
class NetworkSettings:
    bridge: str = DEFAULT_BRIDGE
    subnet: ipaddress.IPv4Network | None = None  # None: choose one the host does not route
    firewall: FirewallChoice = "auto"
    dns: tuple[str, ...] = ()
    resolv_conf: Path = Path("/etc/resolv.conf")
    autoforward_interval: float = 1.0
    bridge_linger: float = 10.0  # seconds an unused bridge stays for the next container (see devenv.network.agent)


def state_dir() -> Path:
    """``<data root>/network``: settings, IPAM, attachment records."""
    return paths.data_root() / "network"


def lock_path() -> Path:
    """A machine-wide lock for changes to bridges and firewall rules (kernel objects are machine-wide)."""
    return Path(os.environ.get("DEVENV_NETWORK_LOCK", "/run/lock/devenv-network.lock"))


def default_bridge() -> str:
    if not os.environ.get("DEVENV_ROOT"):
        return DEFAULT_BRIDGE
    digest = hashlib.sha256(str(paths.data_root().resolve()).encode()).hexdigest()
    return f"dv-{digest[:8]}"


def load() -> NetworkSettings:
    file = state_dir() / "settings.json"
    data: dict[str, Any] = {}
    if file.exists():
        try:
            loaded = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read network settings: {exc}", path=file) from None
        if not isinstance(loaded, dict):
            raise ConfigError("network settings must be a JSON object", path=file, line=1, col=1)
        data = loaded

    def get(env: str, key: str) -> tuple[Any, str]:
        if os.environ.get(env):
            return os.environ[env], f"${env}"
        return data.get(key), f"{file}: {key!r}"

    bridge, where = get("DEVENV_BRIDGE", "bridge")
    bridge = bridge or default_bridge()
    if not isinstance(bridge, str) or not _IFNAME.match(bridge):
        raise NetworkError(
            f"{where}: {bridge!r} is not a usable interface name", remedy="use 1-15 letters, digits, '-', '_' or '.'"
        )
    subnet_value, where = get("DEVENV_SUBNET", "subnet")
    subnet = None
    if subnet_value:
        try:
            subnet = ipaddress.IPv4Network(str(subnet_value), strict=True)
        except ValueError as exc:
            raise NetworkError(
                f"{where}: {subnet_value!r} is not an IPv4 network: {exc}",
                remedy='write it as a network address with a prefix, e.g. "10.242.0.0/24"',
            ) from None
        if subnet.prefixlen > 29:
            raise NetworkError(f"{where}: {subnet} is too small", remedy="use a prefix of /29 or shorter")
    firewall, where = get("DEVENV_FIREWALL", "firewall")
    firewall = firewall or "auto"
    if firewall not in ("auto", "iptables", "nftables"):
        raise NetworkError(f"{where}: {firewall!r} is not a firewall backend", remedy="use auto, iptables or nftables")
    dns_value, where = get("DEVENV_DNS", "dns")
    dns: list[str] = []
    if dns_value:
        items = dns_value.split(",") if isinstance(dns_value, str) else dns_value
        for item in items if isinstance(items, list) else [items]:
            try:
                dns.append(str(ipaddress.ip_address(str(item).strip())))
            except ValueError:
                raise NetworkError(f"{where}: {item!r} is not an IP address") from None
    resolv, _ = get("DEVENV_RESOLV_CONF", "resolv_conf")
    interval, where = get("DEVENV_AUTOFORWARD_INTERVAL", "autoforward_interval")
    try:
        interval_s = float(interval) if interval is not None else 1.0
    except (TypeError, ValueError):
        raise NetworkError(f"{where}: {interval!r} is not a number of seconds") from None
    linger, where = get("DEVENV_BRIDGE_LINGER", "bridge_linger")
    try:
        linger_s = float(linger) if linger not in (None, "") else 10.0
    except (TypeError, ValueError):
        raise NetworkError(f"{where}: {linger!r} is not a number of seconds") from None
    return NetworkSettings(
        bridge=bridge,
        subnet=subnet,
        firewall=cast(FirewallChoice, firewall),
        dns=tuple(dns),
        resolv_conf=Path(resolv or "/etc/resolv.conf"),
        autoforward_interval=max(0.05, interval_s),
        bridge_linger=max(0.0, linger_s),
    )


def choose_subnet(
    taken: list[ipaddress.IPv4Network], pool: ipaddress.IPv4Network = SUBNET_POOL
) -> ipaddress.IPv4Network:
    """The first /24 of ``pool`` that overlaps none of ``taken`` (the host's routes and addresses)."""
    for candidate in pool.subnets(new_prefix=24):
        if not any(candidate.overlaps(net) for net in taken if net.prefixlen > 0):
            return candidate
    raise NetworkError(
        f"every /24 of {pool} is already routed on this host",
        remedy="choose a free subnet with DEVENV_SUBNET or the 'subnet' network setting",
    )
