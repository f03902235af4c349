"""attach/detach logic against the in-memory netlink and firewall: bridge, addresses, rollback, teardown."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from devenv.errors import NetworkError
from devenv.network import state
from devenv.network.attachment import Network, attach, bridge_alias, detach, veth_name
from devenv.network.fake import FakeFirewall, FakeLink, FakeNetlink
from devenv.network.settings import NetworkSettings
from devenv.runtime.base import PortMapping


@pytest.fixture
def env(
    devenv_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Network, FakeNetlink, FakeFirewall]:
    monkeypatch.setenv("DEVENV_NETWORK_LOCK", str(tmp_path / "net.lock"))
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.53\n")
    (tmp_path / "ip_forward").write_text("0\n")
    netlink = FakeNetlink(routes=["10.242.0.0/24", "192.0.2.0/24"])
    fw = FakeFirewall()
    conf = NetworkSettings(bridge="br-unit", resolv_conf=resolv)
    return Network(conf, netlink, fw, ip_forward=tmp_path / "ip_forward"), netlink, fw


@pytest.fixture
def netns(tmp_path: Path) -> str:
    path = tmp_path / "netns"
    path.write_text("")
    return str(path)


def test_first_attach_creates_the_bridge_on_a_free_subnet(
    env: tuple[Network, FakeNetlink, FakeFirewall], netns: str, tmp_path: Path
) -> None:
    net, netlink, fw = env
    att = attach("c1", netns, network=net)
    assert (att.ip, att.prefix_len, att.gateway, att.bridge) == ("10.242.1.2", 24, "10.242.1.1", "br-unit")
    bridge = netlink.state["br-unit"]
    assert bridge.addresses == ["10.242.1.1/24"] and bridge.alias == bridge_alias()
    veth = netlink.state[veth_name("br-unit", "c1")]
    assert veth.master == "br-unit"
    assert veth.peer is not None and (veth.peer.ifname, veth.peer.address, veth.peer.gateway) == (
        "eth0",
        "10.242.1.2/24",
        "10.242.1.1",
    )
    assert fw.rules == {"br-unit": "10.242.1.0/24"}
    assert (tmp_path / "ip_forward").read_text() == "1\n"
    assert att.resolv_conf.endswith("nameserver 192.0.2.53\n")
    assert state.load("c1") == att


def test_last_detach_takes_bridge_and_rules_away(env: tuple[Network, FakeNetlink, FakeFirewall], netns: str) -> None:
    net, netlink, fw = env
    a = attach("c1", netns, network=net)
    b = attach("c2", netns, network=net)
    assert a.ip != b.ip
    detach("c1", network=net)
    assert "br-unit" in netlink.state and fw.rules
    assert veth_name("br-unit", "c1") not in netlink.state
    detach("c2", network=net)
    detach("c2", network=net)  # idempotent
    assert set(netlink.state) == {"lo"}
    assert fw.rules == {}
    assert not net.ipam.path.exists()
    assert state.load("c1") is None and state.load("c2") is None


def test_reattach_replaces_the_previous_attachment(env: tuple[Network, FakeNetlink, FakeFirewall], netns: str) -> None:
    net, netlink, _ = env
    attach("c1", netns, network=net)
    attach("c1", netns, network=net)
    assert len([link for link in netlink.state.values() if link.kind == "veth"]) == 1


def test_failure_while_creating_the_veth_undoes_everything(
    env: tuple[Network, FakeNetlink, FakeFirewall], netns: str
) -> None:
    net, netlink, fw = env
    netlink.fail_on = lambda call: call.startswith("create_veth")
    with pytest.raises(NetworkError, match="injected"):
        attach("c1", netns, network=net)
    assert set(netlink.state) == {"lo"}
    assert fw.rules == {}
    assert net.ipam.read() is None
    assert state.load("c1") is None


def test_addresses_of_containers_that_vanished_are_reclaimed(
    env: tuple[Network, FakeNetlink, FakeFirewall], netns: str
) -> None:
    net, netlink, _ = env
    attach("gone", netns, network=net)
    del netlink.state[veth_name("br-unit", "gone")]  # its namespace died, nobody called detach
    attach("c2", netns, network=net)
    st = net.ipam.read()
    assert st is not None and list(st.allocations) == ["c2"]
    assert state.load("gone") is None


def test_bridge_of_another_owner_is_not_touched(env: tuple[Network, FakeNetlink, FakeFirewall], netns: str) -> None:
    net, netlink, fw = env
    netlink.create_bridge("br-unit", address="10.99.0.1/24", alias="devenv:/somewhere/else", mtu=1500)
    with pytest.raises(NetworkError, match=r"another devenv data root \(/somewhere/else\)") as info:
        attach("c1", netns, network=net)
    assert info.value.remedy is not None and "DEVENV_BRIDGE" in info.value.remedy
    assert "br-unit" in netlink.state and fw.rules == {}


def test_configured_subnet_that_clashes_names_the_route(
    env: tuple[Network, FakeNetlink, FakeFirewall], netns: str
) -> None:
    net, netlink, _ = env
    net.conf = NetworkSettings(
        bridge="br-unit", subnet=ipaddress.IPv4Network("192.0.2.0/25"), resolv_conf=net.conf.resolv_conf
    )
    with pytest.raises(NetworkError, match=r"overlaps the host's network 192\.0\.2\.0/24"):
        attach("c1", netns, network=net)
    assert set(netlink.state) == {"lo"}


def test_host_mode_touches_no_links_and_reports_container_ports(env: tuple[Network, FakeNetlink, FakeFirewall]) -> None:
    net, netlink, _ = env
    att = attach("h1", None, "host", (PortMapping(3000, 0),), network=net)
    assert att.ports == (PortMapping(3000, 3000, host_ip="0.0.0.0"),)
    assert att.ip is None
    assert netlink.calls == []
    detach("h1", network=net)
    assert netlink.calls == [] and state.load("h1") is None


def test_none_mode_has_no_address(env: tuple[Network, FakeNetlink, FakeFirewall], netns: str) -> None:
    net, netlink, _ = env
    att = attach("n1", netns, "none", network=net)
    assert att.ip is None and att.dns_servers == ()
    assert netlink.calls == []


def test_bad_container_id_is_rejected(env: tuple[Network, FakeNetlink, FakeFirewall], netns: str) -> None:
    with pytest.raises(NetworkError, match="not a valid container id"):
        attach("../etc", netns, network=env[0])


def test_bridges_of_deleted_data_roots_without_containers_are_collected(
    env: tuple[Network, FakeNetlink, FakeFirewall], netns: str, tmp_path: Path
) -> None:
    net, netlink, fw = env
    netlink.create_bridge("dv-gone", address="10.242.7.1/24", alias=f"devenv:{tmp_path}/deleted-root", mtu=1500)
    fw.ensure("dv-gone", "10.242.7.0/24")
    netlink.create_bridge("dv-busy", address="10.242.8.1/24", alias=f"devenv:{tmp_path}/deleted-too", mtu=1500)
    netlink.state["vebusy"] = FakeLink("vebusy", "veth", master="dv-busy")  # a container still attached
    netlink.create_bridge("dv-alive", address="10.242.9.1/24", alias=f"devenv:{tmp_path}", mtu=1500)
    netlink.create_bridge("br-foreign", address="10.242.10.1/24", alias="", mtu=1500)
    attach("c1", netns, network=net)
    assert "dv-gone" not in netlink.state and "dv-gone" not in fw.rules
    assert {"dv-busy", "dv-alive", "br-foreign", "br-unit"} <= set(netlink.state)
