"""The container's network namespace, from the runtime's side.

Split of work with :mod:`devenv.network`: the runtime creates the namespace (its init unshares
``CLONE_NEWNET`` for ``bridge`` and ``none``; ``host`` keeps the host's) and brings ``lo`` up; then
:func:`attach` hands it to ``devenv.network.attach`` (veth, address, NAT, port forwarder) and returns
what the runtime writes into the container's /etc/hosts and /etc/resolv.conf. :func:`detach` undoes it.

``loopback_up`` runs inside the container's init and uses a plain ioctl (no pyroute2 there); the rest
imports :mod:`devenv.network` lazily, only when there is something to attach. :func:`attach` runs in
the container's supervisor.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    """``ip link set lo up`` in the caller's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


class NetworkInfo:
    """What the container's /etc files and ``inspect`` need from the network."""

    def __init__(
        self,
        ip_address: str | None = None,
        resolv_conf: str | None = None,  # None: the runtime derives it from the host's
        ports: list[dict[str, Any]] | None = None,  # PortMapping fields, host ports as bound
    ) -> None:
        self.ip_address = ip_address
        self.resolv_conf = resolv_conf
        self.ports = ports if ports is not None else []


def needs_attach(mode: str, ports: tuple[Any, ...] | list[Any], auto_forward: bool) -> bool:
    """``bridge`` always (veth, address); ``none``/``host`` only to forward ports."""
    return mode == "bridge" or bool(ports) or auto_forward


def attach(
    container_id: str,
    init_pid: int,
    mode: str,
    ports: list[dict[str, Any]],
    policy: dict[str, Any],
    *,
    data_root: str,
    sys_path: list[str] | None = None,
) -> NetworkInfo:
    """Attach the container whose pid 1 is ``init_pid``; ``ports``/``policy``: the fields of its
    PortMappings and PortsPolicy. Through the data root's network agent (:mod:`devenv.network.agent`,
    started if needed); in this process when no agent can be reached."""
    from devenv.network import agent

    msg = {"op": "attach", "id": container_id, "pid": init_pid, "mode": mode, "ports": ports, "policy": policy}
    try:
        answer = agent.call(data_root, msg, sys_path=sys_path)
    except agent.AgentError as exc:
        from devenv.errors import NetworkError

        raise NetworkError(str(exc)) from None
    except OSError:
        return _attach_here(container_id, init_pid, mode, ports, policy)
    return NetworkInfo(answer.get("ip"), answer.get("resolv_conf") or None, list(answer.get("ports") or []))


def new_namespace(sys: Any) -> int:
    """A new network namespace with ``lo`` up, made by the calling (single-threaded) process without
    staying in it; a descriptor of it. ``sys``: the runtime's Syscalls."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sys.unshare(CLONE_NEWNET)
        try:
            loopback_up()
            return os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            sys.setns(own, CLONE_NEWNET)
    finally:
        os.close(own)


class Pending:
    """An attach request sent to the network agent ahead (:func:`attach_early`); :meth:`result` waits."""

    def __init__(self, sock: Any, redo: Any) -> None:
        self.sock = sock
        self.redo = redo  # () -> NetworkInfo: the attach done the usual way, when the agent went away

    def result(self) -> NetworkInfo:
        from devenv.network import agent

        try:
            answer = agent.answer(self.sock)
        except agent.AgentError as exc:
            from devenv.errors import NetworkError

            raise NetworkError(str(exc)) from None
        except (OSError, EOFError, ValueError):
            info: NetworkInfo = self.redo()
            return info
        return NetworkInfo(answer.get("ip"), answer.get("resolv_conf") or None, list(answer.get("ports") or []))


def attach_early(container_id: str, netns_path: str, mode: str, *, data_root: str, redo: Any) -> Pending | None:
    """Send the attach of the namespace at ``netns_path`` (``/proc/PID/fd/N`` of a process holding it)
    to the data root's agent, without waiting; None when no agent listens (attach the usual way then).
    Only for a namespace without ports to forward (a forwarder follows the container's pid 1)."""
    from devenv.network import agent

    msg = {"op": "attach", "id": container_id, "netns": netns_path, "mode": mode, "ports": [], "policy": {}}
    try:
        return Pending(agent.send(data_root, msg), redo)
    except OSError:
        return None


def _attach_here(
    container_id: str, init_pid: int, mode: str, ports: list[dict[str, Any]], policy: dict[str, Any]
) -> NetworkInfo:
    from dataclasses import asdict

    from devenv import network
    from devenv.runtime.base import PortAttributes, PortMapping, PortsPolicy

    mappings = tuple(PortMapping(**p) for p in ports)
    attrs = tuple((key, PortAttributes(**value)) for key, value in policy.get("attributes") or ())
    other = PortAttributes(**policy["other"]) if policy.get("other") else None
    pol = PortsPolicy(attrs, other, bool(policy.get("auto_forward")))
    att = network.attach(container_id, init_pid, mode, mappings, policy=pol, spawn_forwarder=True)  # type: ignore[arg-type]
    return NetworkInfo(att.ip, att.resolv_conf or None, [asdict(p) for p in att.ports])


def detach(container_id: str, *, data_root: str | None = None, sys_path: list[str] | None = None) -> None:
    """Detach the container's network; through the network agent when ``data_root`` is given (an unused
    bridge then stays a while for the next container), else (or when no agent can be reached) here."""
    if data_root is not None:
        from devenv.network import agent

        try:
            agent.call(data_root, {"op": "detach", "id": container_id}, sys_path=sys_path)
            return
        except agent.AgentError as exc:
            from devenv.errors import NetworkError

            raise NetworkError(str(exc)) from None
        except OSError:
            pass
    from devenv import network

    network.detach(container_id)


def host_resolv_conf() -> str:
    """The host's resolv.conf without loopback resolvers (unreachable from a namespace of its own)."""
    try:
        with open("/etc/resolv.conf") as f:
            text = f.read()
    except OSError:
        return ""
    kept = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver" and (words[1].startswith("127.") or words[1] == "::1"):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def hosts_file(hostname: str, ip: str | None) -> str:
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
        f"{ip}\t{hostname}" if ip else f"127.0.1.1\t{hostname}",
    ]
    return "\n".join(lines) + "\n"
