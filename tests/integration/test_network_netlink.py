"""The netlink layer against the real kernel: a veth into a namespace, configured there, and what happens
to a leftover of an interrupted attach or to a request the kernel refuses."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from devenv.errors import NetworkError
from devenv.network import nsutil
from devenv.network.netlink import ContainerInterface, KernelNetlink
from tests.support.netns import Netns, netns, run, unique


@pytest.fixture
def kernel() -> Iterator[KernelNetlink]:
    nl = KernelNetlink()
    yield nl
    nl.close()


@contextlib.contextmanager
def bridge(nl: KernelNetlink) -> Iterator[tuple[str, ipaddress.IPv4Interface]]:
    """A bridge on a /24 of 10.251.0.0/16 the host does not route (other tests use 10.242.0.0/16)."""
    taken = nl.routed_networks()
    subnet = next(
        net
        for net in ipaddress.IPv4Network("10.251.0.0/16").subnets(new_prefix=24)
        if not any(net.overlaps(t) for t in taken)
    )
    name = unique("dvnlb")
    gateway = ipaddress.IPv4Interface(f"{subnet[1]}/24")
    nl.create_bridge(name, address=str(gateway), alias="devenv:test-netlink", mtu=1400)
    try:
        yield name, gateway
    finally:
        nl.delete_link(name)


def inside(ns: Netns, *argv: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(ns.run("ip", "-j", *argv).stdout)
    return out


def reaches(ns: Netns, address: str) -> None:
    """A TCP connection from inside the namespace to ``address`` on the host (the bridge's) succeeds."""
    with socket.socket() as listener:
        listener.bind((address, 0))
        listener.listen()
        code = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()"
        ns.run(sys.executable, "-c", code, address, str(listener.getsockname()[1]), timeout=30)
        listener.settimeout(5)
        listener.accept()[0].close()


def attach(nl: KernelNetlink, ns: Netns, host: str, bridge: str, address: str, gateway: str) -> None:
    fd = nsutil.open_netns(ns.path)
    try:
        peer = ContainerInterface("eth0", address, gateway, 1400)
        nl.create_veth(host, netns_fd=fd, bridge=bridge, alias="devenv:c-netlink", peer=peer)
    finally:
        os.close(fd)


def test_a_veth_is_enslaved_on_the_host_and_configured_inside_the_namespace(kernel: KernelNetlink) -> None:
    host = unique("dvnlv")
    with bridge(kernel) as (br, gateway), netns() as ns:
        try:
            address = f"{gateway.network[2]}/24"
            attach(kernel, ns, host, br, address, str(gateway.ip))
            link, br_link = kernel.link(host), kernel.link(br)
            assert link is not None and br_link is not None
            assert (link.kind, link.alias, link.mtu, link.up, link.master) == (
                "veth",
                "devenv:c-netlink",
                1400,
                True,
                br_link.index,
            )
            assert kernel.addresses(br) == [str(gateway)]
            (eth0,) = inside(ns, "addr", "show", "eth0")
            assert eth0["mtu"] == 1400 and "UP" in eth0["flags"]
            assert [f"{a['local']}/{a['prefixlen']}" for a in eth0["addr_info"] if a["family"] == "inet"] == [address]
            (lo,) = inside(ns, "link", "show", "lo")
            assert "UP" in lo["flags"]
            routes = inside(ns, "route", "show", "default")
            assert [(r["gateway"], r["dev"]) for r in routes] == [(str(gateway.ip), "eth0")]
            reaches(ns, str(gateway.ip))  # (through the veth and the bridge)
        finally:
            kernel.delete_link(host)


def test_a_leftover_link_of_the_same_name_is_replaced(kernel: KernelNetlink) -> None:
    host = unique("dvnlv")
    with bridge(kernel) as (br, gateway), netns() as ns:
        try:
            run("ip", "link", "add", host, "type", "veth", "peer", "name", unique("dvnlp"))  # (an interrupted attach)
            stale = kernel.link(host)
            assert stale is not None and stale.master == 0
            attach(kernel, ns, host, br, f"{gateway.network[3]}/24", str(gateway.ip))
            link, br_link = kernel.link(host), kernel.link(br)
            assert link is not None and br_link is not None
            assert link.index != stale.index and (link.master, link.alias) == (br_link.index, "devenv:c-netlink")
            reaches(ns, str(gateway.ip))
        finally:
            kernel.delete_link(host)
        assert kernel.link(host) is None and not kernel.delete_link(host)


def test_a_refused_request_is_a_network_error_naming_what_was_asked(kernel: KernelNetlink) -> None:
    with bridge(kernel) as (br, gateway):
        with pytest.raises(NetworkError, match=f"creating bridge {br}: File exists"):
            kernel.create_bridge(br, address=str(gateway), alias="devenv:test-netlink", mtu=1400)
        with netns() as ns, pytest.raises(NetworkError, match="bridge-gone"):
            attach(kernel, ns, unique("dvnlv"), "bridge-gone", f"{gateway.network[4]}/24", str(gateway.ip))
