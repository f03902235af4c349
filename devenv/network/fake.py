"""In-memory stand-ins for the kernel-facing interfaces, for unit tests (no root, no kernel changes).

:class:`FakeNetlink` implements :class:`devenv.network.netlink.Netlink`; :class:`FakeRunner` implements
:class:`devenv.network.firewall.CommandRunner` and records every command it is given.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from devenv.errors import NetworkError
from devenv.network.netlink import ContainerInterface, LinkInfo


@dataclass
class FakeLink:
    name: str
    kind: str
    alias: str = ""
    mtu: int = 1500
    master: str = ""
    addresses: list[str] = field(default_factory=list)
    peer: ContainerInterface | None = None  # for veths: the container side


class FakeNetlink:
    def __init__(self, routes: list[str] | None = None, mtu: int = 1500) -> None:
        self.state: dict[str, FakeLink] = {"lo": FakeLink("lo", "", addresses=["127.0.0.1/8"])}
        self.routes = [ipaddress.IPv4Network(r) for r in routes or []]
        self.mtu = mtu
        self.calls: list[str] = []
        self.fail_on: Callable[[str], bool] = lambda call: False

    def _call(self, call: str) -> None:
        self.calls.append(call)
        if self.fail_on(call):
            raise NetworkError(f"injected failure: {call}")

    def links(self) -> list[LinkInfo]:
        return [self._info(i, link) for i, link in enumerate(self.state.values(), 1)]

    def _info(self, index: int, link: FakeLink) -> LinkInfo:
        names = list(self.state)
        master = names.index(link.master) + 1 if link.master in self.state else 0
        return LinkInfo(link.name, index, link.kind, link.alias, link.mtu, True, master)

    def link_names(self) -> set[str]:
        return set(self.state)

    def link(self, name: str) -> LinkInfo | None:
        for info in self.links():
            if info.name == name:
                return info
        return None

    def create_bridge(self, name: str, *, address: str, alias: str, mtu: int) -> None:
        self._call(f"create_bridge {name} {address}")
        if name in self.state:
            raise NetworkError(f"creating bridge {name}: File exists")
        self.state[name] = FakeLink(name, "bridge", alias, mtu, addresses=[address])

    def create_veth(
        self,
        host_name: str,
        *,
        netns_fd: int,
        bridge: str,
        alias: str,
        peer: ContainerInterface,
        bridge_index: int = 0,
    ) -> None:
        self._call(f"create_veth {host_name} {bridge} {peer.address}")
        self.state.pop(host_name, None)  # (a leftover of an interrupted attach)
        if bridge not in self.state:
            raise NetworkError(f"bridge {bridge} disappeared while attaching a container")
        self.state[host_name] = FakeLink(host_name, "veth", alias, peer.mtu, bridge, peer=peer)

    def delete_link(self, name: str) -> bool:
        self._call(f"delete_link {name}")
        if self.state.pop(name, None) is None:
            return False
        for link in list(self.state.values()):
            if link.master == name:
                link.master = ""
        return True

    def addresses(self, name: str | None = None) -> list[str]:
        if name is not None:
            return list(self.state[name].addresses) if name in self.state else []
        return [a for link in self.state.values() for a in link.addresses]

    def routed_networks(self) -> list[ipaddress.IPv4Network]:
        return [*self.routes, *(ipaddress.IPv4Interface(a).network for a in self.addresses())]

    def default_mtu(self) -> int:
        return self.mtu

    def close(self) -> None:
        self.calls.append("close")


@dataclass
class FakeResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


class FakeRunner:
    """Answers commands with ``handler(argv, input)``; records ``(argv, input)`` pairs."""

    def __init__(self, handler: Callable[[list[str], str | None], FakeResult] | None = None) -> None:
        self.commands: list[tuple[list[str], str | None]] = []
        self.handler = handler or (lambda argv, stdin: FakeResult(0))

    def run(self, argv: list[str], *, input: str | None = None) -> FakeResult:
        self.commands.append((list(argv), input))
        return self.handler(list(argv), input)

    def which(self, name: str) -> str | None:
        return f"/usr/sbin/{name}"


class FakeFirewall:
    """Keeps the rules per bridge in a dict; ``ensure``/``remove`` are idempotent like the real ones."""

    name = "fake"

    def __init__(self) -> None:
        self.rules: dict[str, str] = {}  # bridge -> subnet
        self.calls: list[str] = []

    def ensure(self, bridge: str, subnet: str) -> None:
        self.calls.append(f"ensure {bridge} {subnet}")
        self.rules[bridge] = subnet

    def remove(self, bridge: str, subnet: str) -> None:
        self.calls.append(f"remove {bridge}")
        self.rules.pop(bridge, None)

    def installed(self, bridge: str) -> list[str]:
        return [f"{bridge} {self.rules[bridge]}"] if bridge in self.rules else []
