"""The rtnetlink client: the messages it builds (decoded back with pyroute2, as the kernel would read them)
and the replies it reads from the kernel (compared with what iproute2 and the standard library report).
Only reads are asked of the kernel here: no privilege needed, nothing changed on the host."""

from __future__ import annotations

import errno
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devenv.network import rtnl


@pytest.fixture
def ip() -> Iterator[rtnl.Rtnl]:
    client = rtnl.Rtnl()
    yield client
    client.close()


def sent(req: rtnl.Request, seq: int = 77) -> Any:
    """The request as the kernel receives it, decoded by pyroute2 from the bytes that are sent."""
    msg = req.cls(bytes(req.encode(seq)))
    msg.decode()
    return msg


def test_a_veth_request_carries_its_peer_and_asks_for_the_new_link_back(ip: rtnl.Rtnl) -> None:
    peer = {"attrs": [("IFLA_IFNAME", "eth0"), ("IFLA_NET_NS_FD", 9), ("IFLA_MTU", 1400)]}
    info = [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer)]})]
    attrs = [("IFLA_IFNAME", "ve-test"), ("IFLA_MTU", 1400), ("IFLA_MASTER", 3), ("IFLA_LINKINFO", {"attrs": info})]
    msg = sent(ip.new_link(attrs, up=True, echo=True))
    header = msg["header"]
    assert (header["type"], header["sequence_number"]) == (rtnl.RTM_NEWLINK, 77)
    wanted = rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK | rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL | rtnl.NLM_F_ECHO
    assert header["flags"] == wanted and header["length"] == len(msg.data)
    assert (msg["flags"] & rtnl.IFF_UP, msg["change"] & rtnl.IFF_UP) == (1, 1)
    assert rtnl.attr_values(msg, "IFLA_IFNAME", "IFLA_MTU", "IFLA_MASTER") == ["ve-test", 1400, 3]
    linkinfo = msg.get_attr("IFLA_LINKINFO")
    assert linkinfo.get_attr("IFLA_INFO_KIND") == "veth"
    inside = linkinfo.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert rtnl.attr_values(inside, "IFLA_IFNAME", "IFLA_NET_NS_FD", "IFLA_MTU") == ["eth0", 9, 1400]
    assert inside["flags"] & rtnl.IFF_UP == 0  # (the kernel refuses a peer up at creation)
    plain = sent(ip.new_link([("IFLA_IFNAME", "x")]))
    assert plain["header"]["flags"] & rtnl.NLM_F_ECHO == 0 and plain["change"] == 0


def test_set_link_changes_only_the_up_flag_it_is_asked_to(ip: rtnl.Rtnl) -> None:
    down = sent(ip.set_link(5, [], up=False))
    assert (down["index"], down["flags"], down["change"]) == (5, 0, rtnl.IFF_UP)
    alias = sent(ip.set_link(0, [("IFLA_IFNAME", "ve-test"), ("IFLA_IFALIAS", "devenv:abc")]))
    assert (alias["index"], alias["change"]) == (0, 0)  # (the link named by IFLA_IFNAME; flags untouched)
    assert rtnl.attr_values(alias, "IFLA_IFNAME", "IFLA_IFALIAS") == ["ve-test", "devenv:abc"]
    assert alias["header"]["flags"] == rtnl.NLM_F_REQUEST | rtnl.NLM_F_ACK


def test_address_and_default_route_requests(ip: rtnl.Rtnl) -> None:
    addr = sent(ip.add_addr(4, "10.242.0.2", 24))
    assert (addr["header"]["type"], addr["family"], addr["prefixlen"], addr["index"]) == (
        rtnl.RTM_NEWADDR,
        socket.AF_INET,
        24,
        4,
    )
    assert rtnl.attr_values(addr, "IFA_LOCAL", "IFA_ADDRESS") == ["10.242.0.2", "10.242.0.2"]
    route = sent(ip.add_default_route("10.242.0.1", 4))
    fields = [route[k] for k in ("family", "dst_len", "table", "proto", "scope", "type")]
    assert fields == [socket.AF_INET, 0, rtnl.RT_TABLE_MAIN, rtnl.RTPROT_BOOT, rtnl.RT_SCOPE_UNIVERSE, rtnl.RTN_UNICAST]
    assert rtnl.attr_values(route, "RTA_GATEWAY", "RTA_OIF", "RTA_DST") == ["10.242.0.1", 4, None]
    assert rtnl.attr_values(sent(ip.add_default_route("10.242.0.1")), "RTA_OIF") == [None]


def test_a_request_sent_again_is_the_same_message_with_a_new_sequence_number(ip: rtnl.Rtnl) -> None:
    req = ip.set_link(0, [("IFLA_IFNAME", "ve-test"), ("IFLA_IFALIAS", "devenv:abc")])
    first, again = bytes(req.encode(10)), bytes(req.encode(11))
    assert len(first) == len(again) and first[:8] == again[:8] and first[12:] == again[12:]
    assert (sent(req, 10)["header"]["sequence_number"], sent(req, 11)["header"]["sequence_number"]) == (10, 11)


def test_attr_values_reads_the_first_of_each_name_and_none_for_a_missing_one(ip: rtnl.Rtnl) -> None:
    msg = sent(ip.set_link(0, [("IFLA_IFNAME", "a"), ("IFLA_MTU", 1000), ("IFLA_IFNAME", "b")]))
    assert rtnl.attr_values(msg, "IFLA_MTU", "IFLA_IFALIAS", "IFLA_IFNAME") == [1000, None, "a"]


# -- replies from the kernel ---------------------------------------------------------------------------------


def iproute(*argv: str) -> Any:
    return json.loads(subprocess.run(["ip", "-j", *argv], capture_output=True, text=True, check=True).stdout)


def test_links_read_from_the_kernel_are_the_hosts_interfaces(ip: rtnl.Rtnl) -> None:
    links = {int(m["index"]): rtnl.attr_values(m, "IFLA_IFNAME", "IFLA_MTU") for m in ip.dump_links()}
    assert {index: name for index, (name, _) in links.items()} == dict(socket.if_nameindex())
    for name, mtu in links.values():
        assert mtu == int(Path(f"/sys/class/net/{name}/mtu").read_text())
    lo = ip.get_link("lo")
    assert lo is not None and (int(lo["index"]), lo.get_attr("IFLA_IFNAME")) == (socket.if_nametoindex("lo"), "lo")
    by_index = ip.get_link(index=socket.if_nametoindex("lo"))
    assert by_index is not None and by_index.get_attr("IFLA_IFNAME") == "lo"
    assert ip.get_link("nosuchlink0") is None


def test_addresses_and_routes_read_from_the_kernel_are_what_iproute2_reports(ip: rtnl.Rtnl) -> None:
    ours = sorted((int(m["index"]), m.get_attr("IFA_ADDRESS"), int(m["prefixlen"])) for m in ip.dump_addrs())
    theirs = sorted(
        (link["ifindex"], a["local"], a["prefixlen"])
        for link in iproute("-4", "addr", "show")
        for a in link["addr_info"]
        if a["family"] == "inet"
    )
    assert ours == theirs and ours  # (lo has 127.0.0.1 at least)
    main = [(r.get_attr("RTA_DST") or "default", int(r["dst_len"])) for r in ip.dump_routes(rtnl.RT_TABLE_MAIN)]
    expected = [(r["dst"].split("/")[0], int(r["dst"].split("/")[1]) if "/" in r["dst"] else 32) for r in
                iproute("-4", "route", "show", "table", "main")]  # fmt: skip
    expected = [("default", 0) if dst == "default" else (dst, length) for dst, length in expected]
    assert sorted(main) == sorted(expected)
    assert all(rtnl.route_table(r) == rtnl.RT_TABLE_MAIN for r in ip.dump_routes(rtnl.RT_TABLE_MAIN))
    assert {rtnl.route_table(r) for r in ip.dump_routes()} >= {rtnl.RT_TABLE_MAIN, 255}  # (and the local table)


def test_a_batch_is_answered_request_by_request_and_a_refusal_is_raised_after_all(ip: rtnl.Rtnl) -> None:
    lo_index = socket.if_nametoindex("lo")
    get_lo = rtnl.Request(ip.ifinfmsg, rtnl.RTM_GETLINK, 0, {}, [("IFLA_IFNAME", "lo")])
    answers = ip.batch([get_lo, rtnl.Request(ip.ifinfmsg, rtnl.RTM_GETLINK, rtnl.NLM_F_DUMP, {}, []), get_lo])
    assert [len(a) for a in answers] == [1, len(socket.if_nameindex()), 1]
    assert int(answers[0][0]["index"]) == int(answers[2][0]["index"]) == lo_index
    missing = rtnl.Request(ip.ifinfmsg, rtnl.RTM_GETLINK, 0, {}, [("IFLA_IFNAME", "nosuchlink0")])
    dump = rtnl.Request(ip.ifaddrmsg, rtnl.RTM_GETADDR, rtnl.NLM_F_DUMP, {"family": socket.AF_INET}, [])
    with pytest.raises(rtnl.NetlinkFailure) as failure:
        ip.batch([missing, dump])
    assert failure.value.errno == errno.ENODEV
    # every answer was read: the next request gets its own, not the dump's rest
    again = ip.get_link("lo")
    assert again is not None and int(again["index"]) == lo_index


def test_answers_to_an_abandoned_request_are_skipped(ip: rtnl.Rtnl) -> None:
    abandoned = rtnl.Request(ip.ifinfmsg, rtnl.RTM_GETLINK, rtnl.NLM_F_DUMP, {}, [])
    ip.sock.send(abandoned.encode(ip.seq))  # (its answers wait in the socket, unread)
    link = ip.get_link(index=socket.if_nametoindex("lo"))
    assert link is not None and link.get_attr("IFLA_IFNAME") == "lo"


def test_link_names_are_the_names_of_the_links() -> None:
    """What the agent's reclaim reads on every attach (names only) agrees with the full listing."""
    from devenv.network.netlink import KernelNetlink

    kernel = KernelNetlink()
    try:
        assert kernel.link_names() == {link.name for link in kernel.links()}
    finally:
        kernel.close()
