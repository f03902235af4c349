"""The netlink operations devenv needs, behind a narrow interface; pyroute2 does the real work.

:class:`Netlink` is the contract (:class:`devenv.network.fake.FakeNetlink` implements it in memory for
unit tests); :class:`PyrouteNetlink` talks to the kernel. pyroute2 is untyped and heavy to import, so
it is imported lazily here and nowhere else, and its ``NetlinkError`` becomes :class:`NetworkError`.
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from devenv.errors import NetworkError
from devenv.network import nsutil


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

    def link(self, name: str) -> LinkInfo | None: ...

    def create_bridge(self, name: str, *, address: str, alias: str, mtu: int) -> None:
        """Create a bridge, give it ``address`` (CIDR), set it up."""
        ...

    def create_veth(self, host_name: str, *, netns_fd: int, bridge: str, alias: str, peer: ContainerInterface) -> None:
        """Create a veth pair: ``host_name`` enslaved to ``bridge`` and up; the peer inside ``netns_fd``
        named and configured as ``peer`` (address, up, default route via the gateway; lo up too)."""
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


class PyrouteNetlink:
    """The kernel, through pyroute2's ``IPRoute``."""

    def __init__(self) -> None:
        self._ipr: Any = None

    def _ip(self) -> Any:
        if self._ipr is None:
            from pyroute2 import IPRoute

            self._ipr = IPRoute()
        return self._ipr

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            yield
        except NetlinkError as exc:
            raise _translate(exc, what) from None

    @staticmethod
    def _info(msg: Any) -> LinkInfo:
        linkinfo = msg.get_attr("IFLA_LINKINFO")
        kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo is not None else None
        return LinkInfo(
            name=str(msg.get_attr("IFLA_IFNAME")),
            index=int(msg["index"]),
            kind=str(kind or ""),
            alias=str(msg.get_attr("IFLA_IFALIAS") or ""),
            mtu=int(msg.get_attr("IFLA_MTU") or 0),
            up=bool(int(msg["flags"]) & 1),
            master=int(msg.get_attr("IFLA_MASTER") or 0),
        )

    def links(self) -> list[LinkInfo]:
        with self._errors("listing network links"):
            return [self._info(m) for m in self._ip().get_links()]

    def link(self, name: str) -> LinkInfo | None:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            msgs = self._ip().link("get", ifname=name)  # one request by name, no dump of every link
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return None
            raise _translate(exc, f"looking up link {name}") from None
        return self._info(msgs[0]) if msgs else None

    def _index(self, name: str) -> int:
        info = self.link(name)
        if info is None:
            raise NetworkError(f"the link {name} disappeared while devenv was configuring it")
        return info.index

    def create_bridge(self, name: str, *, address: str, alias: str, mtu: int) -> None:
        ip = self._ip()
        iface = ipaddress.IPv4Interface(address)
        with self._errors(f"creating bridge {name}"):
            ip.link("add", ifname=name, kind="bridge", mtu=mtu)
            idx = self._index(name)
            ip.link("set", index=idx, ifalias=alias)
            ip.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
            ip.link("set", index=idx, state="up")

    def create_veth(self, host_name: str, *, netns_fd: int, bridge: str, alias: str, peer: ContainerInterface) -> None:
        ip = self._ip()
        with self._errors(f"creating veth {host_name} for the container"):
            br = self._index(bridge)
            ip.link(
                "add",
                ifname=host_name,
                kind="veth",
                mtu=peer.mtu,
                peer={"ifname": peer.ifname, "net_ns_fd": netns_fd, "mtu": peer.mtu},
            )
            idx = self._index(host_name)
            ip.link("set", index=idx, ifalias=alias, master=br)
            ip.link("set", index=idx, state="up")
        nsutil.run_in_netns(netns_fd, lambda: self._configure_peer(peer))

    def _configure_peer(self, peer: ContainerInterface) -> None:
        from pyroute2 import IPRoute

        iface = ipaddress.IPv4Interface(peer.address)
        with IPRoute() as ip, self._errors(f"configuring {peer.ifname} inside the container"):
            lo = ip.link_lookup(ifname="lo")
            if lo:
                ip.link("set", index=lo[0], state="up")
            idx = ip.link_lookup(ifname=peer.ifname)[0]
            ip.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
            ip.link("set", index=idx, state="up")
            ip.route("add", dst="0.0.0.0/0", gateway=peer.gateway, oif=idx)

    def delete_link(self, name: str) -> bool:
        from pyroute2.netlink.exceptions import NetlinkError

        ip = self._ip()
        try:
            ip.link("del", ifname=name)
            return True
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return False
            raise _translate(exc, f"deleting link {name}") from None

    def addresses(self, name: str | None = None) -> list[str]:
        ip = self._ip()
        with self._errors("listing addresses"):
            kwargs: dict[str, Any] = {"family": 2}
            if name is not None:
                info = self.link(name)
                if info is None:
                    return []
                kwargs["index"] = info.index
            return [f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}" for m in ip.get_addr(**kwargs)]

    def routed_networks(self) -> list[ipaddress.IPv4Network]:
        ip = self._ip()
        nets: list[ipaddress.IPv4Network] = []
        with self._errors("listing routes"):
            for route in ip.get_routes(family=2, table=0):
                dst = route.get_attr("RTA_DST")
                if dst is not None and route["dst_len"] > 0:
                    nets.append(ipaddress.IPv4Network(f"{dst}/{route['dst_len']}", strict=False))
        nets.extend(ipaddress.IPv4Interface(a).network for a in self.addresses())
        return nets

    def default_mtu(self) -> int:
        ip = self._ip()
        with self._errors("reading the default route"):
            for route in ip.get_routes(family=2, table=254):
                if route["dst_len"] == 0 and route.get_attr("RTA_OIF"):
                    links = ip.get_links(route.get_attr("RTA_OIF"))
                    if links:
                        return int(links[0].get_attr("IFLA_MTU") or 1500)
        return 1500
