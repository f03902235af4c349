"""Which TCP ports are listened on inside a namespace: ``/proc/net/tcp`` and ``tcp6``, read from inside it.

``/proc/thread-self/net`` shows the namespace of the reading thread, so :func:`read_listeners` reads it
from a thread that entered the container's namespace. :func:`owner_command_line` finds the process that
owns a listening socket (for ``portsAttributes`` keys that are regular expressions).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from devenv.network import nsutil

LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    port: int
    address: str  # "0.0.0.0", "127.0.0.1", "::", ...
    inode: int


def _address(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    # The kernel prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def parse(text: str) -> list[Listener]:
    """The LISTEN sockets of one ``/proc/net/tcp[6]`` text."""
    found: list[Listener] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != LISTEN:
            continue
        addr, _, port = fields[1].partition(":")
        found.append(Listener(int(port, 16), _address(addr), int(fields[9])))
    return found


def read_here() -> list[Listener]:
    listeners: list[Listener] = []
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/thread-self/net/{name}", encoding="ascii") as f:
                listeners.extend(parse(f.read()))
        except FileNotFoundError:  # no IPv6
            continue
    return listeners


def read_listeners(netns_fd: int) -> list[Listener]:
    return nsutil.run_in_netns(netns_fd, read_here)


def owner_command_line(inode: int, netns: tuple[int, int]) -> str | None:
    """The command line of a process in namespace ``netns`` (identity) that has socket ``inode`` open."""
    target = f"socket:[{inode}]"
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            if nsutil.netns_identity(f"/proc/{pid}/ns/net") != netns:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
    return None
