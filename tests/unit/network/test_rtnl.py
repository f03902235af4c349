"""The rtnetlink codec: attributes packed as the kernel lays them out, and read back."""

from __future__ import annotations

import socket
import struct

from devenv.network import rtnl


def test_attributes_are_padded_to_four_bytes_and_nest() -> None:
    data = rtnl.encode_attrs([(rtnl.IFLA_IFNAME, "eth0"), (rtnl.IFLA_MTU, 1500), (rtnl.IFLA_LINKINFO, [(1, "veth")])])
    # "eth0\0" is 5 bytes: 4 of header, padded to 12
    assert data[:12] == struct.pack("=HH", 9, rtnl.IFLA_IFNAME) + b"eth0\0\0\0\0"
    assert data[12:20] == struct.pack("=HHI", 8, rtnl.IFLA_MTU, 1500)
    attrs = rtnl.decode_attrs(data)
    assert attrs[rtnl.IFLA_IFNAME] == b"eth0\0" and attrs[rtnl.IFLA_MTU] == struct.pack("=I", 1500)
    assert rtnl.decode_attrs(attrs[rtnl.IFLA_LINKINFO]) == {1: b"veth\0"}


def test_a_link_message_is_read_as_devenv_needs_it() -> None:
    payload = rtnl.ifinfo(7, up=True) + rtnl.encode_attrs(
        [
            (rtnl.IFLA_IFNAME, "ve123"),
            (rtnl.IFLA_MTU, 1400),
            (rtnl.IFLA_MASTER, 3),
            (rtnl.IFLA_IFALIAS, "devenv:abc"),
            (rtnl.IFLA_LINK, 2),
            (rtnl.IFLA_LINKINFO | 0x8000, [(rtnl.IFLA_INFO_KIND, "veth")]),  # (the nested flag is ignored)
        ]
    )
    link = rtnl.Link(payload)
    assert (link.index, link.flags & 1, link.name, link.mtu, link.master) == (7, 1, "ve123", 1400, 3)
    assert (link.alias, link.kind, link.peer_index) == ("devenv:abc", "veth", 2)


def test_address_and_route_messages() -> None:
    req = rtnl.Rtnl.add_addr(4, "10.242.0.2", 24)
    addr = rtnl.Addr(req.body)
    assert (addr.index, addr.address, addr.prefixlen) == (4, "10.242.0.2", 24)
    route = rtnl.Route(rtnl.Rtnl.add_default_route("10.242.0.1", 4).body)
    assert (route.dst, route.dst_len, route.table, route.oif) == ("", 0, 254, 4)
    raw = rtnl.decode_attrs(rtnl.Rtnl.add_default_route("10.242.0.1").body, 12)
    assert socket.inet_ntoa(raw[rtnl.RTA_GATEWAY]) == "10.242.0.1" and rtnl.RTA_OIF not in raw
