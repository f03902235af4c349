"""Bind the host side of a port mapping: the port asked for, the next free one, or a clear error.

See :class:`devenv.runtime.base.PortMapping` for the rules (``require_local_port``, ``elevate_if_needed``).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from devenv.errors import NetworkError
from devenv.runtime.base import PortMapping

SEARCH_LIMIT = 1000  # how many ports above the wanted one are tried
PRIVILEGED_SHIFT = 8000  # 80 -> 8080 when a privileged port may not be bound


def unprivileged_port_start(path: Path = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 1024


def candidates(mapping: PortMapping, privileged_below: int) -> Iterator[int]:
    """Host ports to try, in order (0 = let the kernel choose)."""
    wanted = mapping.host_port
    if wanted == 0:
        yield 0
        return
    if mapping.require_local_port:
        yield wanted
        return
    start = wanted
    if wanted < privileged_below and not mapping.elevate_if_needed:
        start = wanted + PRIVILEGED_SHIFT
    yield from range(start, min(65536, start + SEARCH_LIMIT))


def family_of(host_ip: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(host_ip).version == 6 else socket.AF_INET


def try_bind(host_ip: str, port: int, protocol: str) -> socket.socket | None:
    """A bound (and, for TCP, listening) socket, or None when the port is in use."""
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    sock = socket.socket(family_of(host_ip), kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host_ip, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(512)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            return None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise NetworkError(
                f"cannot listen on {host_ip}: the host has no such address",
                remedy="use 127.0.0.1, 0.0.0.0 or an address of this host",
            ) from None
        if exc.errno == errno.EACCES:
            raise NetworkError(
                f"not allowed to listen on host port {port} (a privileged port)",
                remedy="run devenv as root, or forward to a port above 1023",
            ) from None
        raise NetworkError(f"cannot listen on {host_ip}:{port}: {exc.strerror}") from None
    return sock


def bind(mapping: PortMapping, privileged_below: int | None = None) -> tuple[socket.socket, PortMapping]:
    """Bind the host side of ``mapping``; returns the socket and the mapping with the actual host port."""
    limit = unprivileged_port_start() if privileged_below is None else privileged_below
    for port in candidates(mapping, limit):
        sock = try_bind(mapping.host_ip, port, mapping.protocol)
        if sock is not None:
            actual = sock.getsockname()[1]
            return sock, replace(mapping, host_port=actual)
    where = f"{_addr(mapping.host_ip)}:{mapping.host_port}"
    if mapping.require_local_port:
        raise NetworkError(
            f"host port {mapping.host_port} ({where}, for container port {mapping.container_port}) is already in use",
            remedy=f"stop the program using it (ss -ltnp 'sport = :{mapping.host_port}'), pick another host port, "
            "or drop requireLocalPort (portsAttributes) to take the next free port",
        )
    raise NetworkError(
        f"no free host port from {mapping.host_port} upwards for container port {mapping.container_port}",
        remedy="free some ports, or forward to another host port",
    )


def bind_all(mappings: tuple[PortMapping, ...]) -> list[tuple[socket.socket, PortMapping]]:
    """Bind every mapping, or none: on an error the sockets already bound are closed."""
    bound: list[tuple[socket.socket, PortMapping]] = []
    try:
        for mapping in mappings:
            bound.append(bind(mapping))
    except BaseException:
        for sock, _ in bound:
            with contextlib.suppress(OSError):
                sock.close()
        raise
    return bound


def _addr(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip
