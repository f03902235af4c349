"""The netlink operations devenv needs, behind a narrow interface; pyroute2 does the real work.

:class:`Netlink` is the contract (:class:`devenv.network.fake.FakeNetlink` implements it in memory for
unit tests); :class:`KernelNetlink` talks to the kernel through :mod:`devenv.network.rtnl` (pyroute2's
rtnetlink message classes over a plain socket). pyroute2 is untyped and heavy to import, so it is
imported lazily, there and nowhere else, and its refusals (``NetlinkFailure``) become :class:`NetworkError`.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from devenv.errors import NetworkError
from devenv.network import nsutil

if TYPE_CHECKING:
    from devenv.network.rtnl import Rtnl


@dataclass(frozen=True)
class LinkInfo:
    name: str
    index: int
    kind: str  # "bridge", "veth", "" when unknown
    alias: str  # IFLA_IFALIAS ("" when unset): devenv marks its links with it
    mtu: int
    up: bool
    master: int  # index of the bridge it is enslaved to, 0 = none


@dataclass(frozen=True)
class ContainerInterface:
    """How the container side of a veth is configured inside its namespace."""

    ifname: str  # name inside the container, "eth0"
    address: str  # "10.242.0.2/24"
    gateway: str  # "10.242.0.1"
    mtu: int


class Netlink(Protocol):
    def links(self) -> list[LinkInfo]: ...

    def link_names(self) -> set[str]:
        """The names of this namespace's links (cheaper than :meth:`links`: nothing else is decoded)."""
        ...

    def link(self, name: str) -> LinkInfo | None: ...

    def create_bridge(self, name: str, *, address: str, alias: str, mtu: int) -> None:
        """Create a bridge, give it ``address`` (CIDR), set it up."""
        ...

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
        """Create a veth pair: ``host_name`` enslaved to ``bridge`` (whose ifindex, when known, is
        ``bridge_index``) and up; the peer inside ``netns_fd`` named and configured as ``peer`` (address,
        up, default route via the gateway; lo up too). A link of ``host_name`` left by an interrupted attach
        is replaced."""
        ...

    def delete_link(self, name: str) -> bool:
        """Delete a link; False when it did not exist."""
        ...

    def addresses(self, name: str | None = None) -> list[str]:
        """IPv4 addresses as CIDRs ("10.242.0.1/24"), of one link or of all."""
        ...

    def routed_networks(self) -> list[ipaddress.IPv4Network]:
        """Every IPv4 destination the host routes (all tables) and every network of its addresses."""
        ...

    def default_mtu(self) -> int:
        """MTU of the interface the default route uses (1500 when there is none)."""
        ...

    def close(self) -> None:
        """Release the netlink socket (usable again afterwards: it reopens on demand)."""
        ...


def _translate(exc: Exception, what: str) -> NetworkError:
    code = getattr(exc, "code", None)
    reason = exc.args[1] if len(exc.args) > 1 else str(exc)
    remedy = "devenv needs root (CAP_NET_ADMIN) to set up container networking" if code == errno.EPERM else None
    return NetworkError(f"{what}: {reason}", remedy=remedy)


class KernelNetlink:
    """The kernel, through pyroute2's rtnetlink messages (:mod:`devenv.network.rtnl`)."""

    def __init__(self) -> None:
        self._rtnl: Rtnl | None = None

    def _ip(self) -> Rtnl:
        if self._rtnl is None:
            from devenv.network.rtnl import Rtnl

            self._rtnl = Rtnl()
        return self._rtnl

    def close(self) -> None:
        if self._rtnl is not None:
            self._rtnl.close()
            self._rtnl = None

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from devenv.network.rtnl import NetlinkFailure

        try:
            yield
        except NetlinkFailure as exc:
            raise _translate(exc, what) from None

    @staticmethod
    def _info(msg: Any) -> LinkInfo:
        from devenv.network.rtnl import attr_values

        name, linkinfo, alias, mtu, master = attr_values(
            msg, "IFLA_IFNAME", "IFLA_LINKINFO", "IFLA_IFALIAS", "IFLA_MTU", "IFLA_MASTER"
        )
        kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo is not None else None
        return LinkInfo(
            name=str(name),
            index=int(msg["index"]),
            kind=str(kind or ""),
            alias=str(alias or ""),
            mtu=int(mtu or 0),
            up=bool(int(msg["flags"]) & 1),
            master=int(master or 0),
        )

    def links(self) -> list[LinkInfo]:
        with self._errors("listing network links"):
            return [self._info(m) for m in self._ip().dump_links()]

    def link_names(self) -> set[str]:
        import socket

        try:
            return {name for _, name in socket.if_nameindex()}
        except OSError as exc:
            raise NetworkError(f"cannot list the network links: {exc.strerror or exc}") from None

    def link(self, name: str) -> LinkInfo | None:
        with self._errors(f"looking up link {name}"):
            msg = self._ip().get_link(name)  # one request by name, no dump of every link
        return self._info(msg) if msg is not None else None

    def _index(self, name: str) -> int:
        info = self.link(name)
        if info is None:
            raise NetworkError(f"the link {name} disappeared while devenv was configuring it")
        return info.index

    def create_bridge(self, name: str, *, address: str, alias: str, mtu: int) -> None:
        ip = self._ip()
        iface = ipaddress.IPv4Interface(address)
        with self._errors(f"creating bridge {name}"):
            kind = {"attrs": [("IFLA_INFO_KIND", "bridge")]}
            ip.request(ip.new_link([("IFLA_IFNAME", name), ("IFLA_MTU", mtu), ("IFLA_LINKINFO", kind)]))
            idx = self._index(name)
            ip.batch(
                [
                    ip.set_link(idx, [("IFLA_IFALIAS", alias)]),
                    ip.add_addr(idx, str(iface.ip), iface.network.prefixlen),
                    ip.set_link(idx, [], up=True),
                ]
            )

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
        """(A link left with ``host_name`` by an interrupted attach is replaced.)"""
        from devenv.network.rtnl import NetlinkFailure

        ip = self._ip()
        with self._errors(f"creating veth {host_name} for the container"):
            br = bridge_index or self._index(bridge)
            peer_attrs = [("IFLA_IFNAME", peer.ifname), ("IFLA_NET_NS_FD", netns_fd), ("IFLA_MTU", peer.mtu)]
            peer_msg = {"attrs": peer_attrs}  # (not up at creation: the kernel refuses that, ENOTCONN)
            info = [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer_msg)]})]
            create = ip.new_link(
                [
                    ("IFLA_IFNAME", host_name),
                    ("IFLA_MTU", peer.mtu),
                    ("IFLA_MASTER", br),
                    ("IFLA_LINKINFO", {"attrs": info}),
                ],
                up=True,
                echo=True,  # (the new link's message names its peer's index: no lookup inside)
            )
            name_alias = ip.set_link(0, [("IFLA_IFNAME", host_name), ("IFLA_IFALIAS", alias)])
            try:  # (one send: an alias is not taken at creation)
                answers = ip.batch([create, name_alias])
            except NetlinkFailure as exc:
                if exc.errno != errno.EEXIST or not ip.del_link(host_name):
                    raise
                answers = ip.batch([create, name_alias])  # (a leftover of an interrupted attach is gone)
        # (the echoed link's IFLA_LINK: its peer's index, in the peer's namespace; 0 from older kernels)
        peer_index = max((int(m.get_attr("IFLA_LINK") or 0) for m in answers[0]), default=0)
        self._configure_peer(netns_fd, peer, peer_index)

    def _configure_peer(self, netns_fd: int, peer: ContainerInterface, index: int) -> None:
        """Address, up and default route of the container's end (``index``: its ifindex there, 0 when
        not known), through a socket of its namespace, in one send (its ``lo`` is up already if its
        runtime did that; it is set up here too, as ``ip`` would leave it)."""
        from devenv.network.rtnl import Rtnl

        iface = ipaddress.IPv4Interface(peer.address)
        sock = nsutil.socket_in_netns(netns_fd, socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 0)
        inside = Rtnl(sock)
        try:
            with self._errors(f"configuring {peer.ifname} inside the container"):
                if not index:  # (a kernel that does not echo a new link: before 6.1)
                    eth = inside.get_link(peer.ifname)
                    if eth is None:
                        raise NetworkError(f"{peer.ifname} did not appear inside the container's namespace")
                    index = int(eth["index"])
                inside.batch(
                    [
                        inside.set_link(0, [("IFLA_IFNAME", "lo")], up=True),
                        inside.set_link(index, [], up=True),
                        inside.add_addr(index, str(iface.ip), iface.network.prefixlen),
                        inside.add_default_route(peer.gateway, index),
                    ]
                )
        finally:
            inside.close()

    def delete_link(self, name: str) -> bool:
        with self._errors(f"deleting link {name}"):
            return self._ip().del_link(name)

    def addresses(self, name: str | None = None) -> list[str]:
        ip = self._ip()
        with self._errors("listing addresses"):
            index = None
            if name is not None:
                info = self.link(name)
                if info is None:
                    return []
                index = info.index
            return [
                f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}"
                for m in ip.dump_addrs()
                if index is None or int(m["index"]) == index
            ]

    def routed_networks(self) -> list[ipaddress.IPv4Network]:
        ip = self._ip()
        nets: list[ipaddress.IPv4Network] = []
        with self._errors("listing routes"):
            for route in ip.dump_routes(table=0):
                dst = route.get_attr("RTA_DST")
                if dst is not None and route["dst_len"] > 0:
                    nets.append(ipaddress.IPv4Network(f"{dst}/{route['dst_len']}", strict=False))
        nets.extend(ipaddress.IPv4Interface(a).network for a in self.addresses())
        return nets

    def default_mtu(self) -> int:
        ip = self._ip()
        with self._errors("reading the default route"):
            for route in ip.dump_routes(table=254):
                oif = route.get_attr("RTA_OIF")
                if route["dst_len"] == 0 and oif:
                    link = ip.get_link(index=int(oif))
                    if link is not None:
                        return int(link.get_attr("IFLA_MTU") or 1500)
        return 1500


PyrouteNetlink = KernelNetlink  # (its former name)
