"""Networking end to end through the embedded runtime: containers started by devenv's own runtime."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from devenv import network
from devenv.network.ports import parse_policy
from devenv.runtime.base import PortMapping
from devenv.runtime.embedded.runtime import EmbeddedRuntime
from tests.integration.runtime_helpers import rootfs_spec, run_in
from tests.support.netns import apt_mirror, internet, leftovers, network_root, wait_for

pytest_plugins = ("tests.integration.runtime_fixtures",)
__all__ = ["network_root"]

NOTHING = {"links": [], "addresses": [], "rules": [], "nft": [], "forwarders": []}


def http_get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as r:
        return r.read().decode()


def start_httpd(rt: EmbeddedRuntime, cid: str, port: int, text: str) -> None:
    code, _, err = run_in(rt, cid, "sh", "-c", f"mkdir -p /tmp/w{port} && echo {text} > /tmp/w{port}/index.html "
                          f"&& httpd -p {port} -h /tmp/w{port}")  # fmt: skip
    assert code == 0, err


def test_container_ports_nat_and_dns_through_the_embedded_runtime(
    rt: EmbeddedRuntime, bb_rootfs: Path, network_root: str
) -> None:
    with internet() as inet:
        inet.ns.serve("internet", 8080)
        spec = rootfs_spec(bb_rootfs, network="bridge", ports=(PortMapping(3000, 3000),))
        c = rt.start(rt.create(spec).id)
        att = network.get(c.id)
        assert att is not None and c.ip_address == att.ip
        host_port = c.ports[0].host_port
        start_httpd(rt, c.id, 3000, "from-busybox")
        assert http_get(host_port).strip() == "from-busybox"
        # The container's resolv.conf is the attachment's; its address and default route are set.
        _, resolv, _ = run_in(rt, c.id, "cat", "/etc/resolv.conf")
        assert resolv == att.resolv_conf
        _, routes, _ = run_in(rt, c.id, "ip", "route")
        assert f"default via {att.gateway}" in routes
        # Outbound through the NAT: the server sees the host's address.
        code, out, err = run_in(rt, c.id, "sh", "-c", f"nc -w 5 {inet.server_ip} 8080 </dev/null")
        assert code == 0 and out.startswith(f"internet {inet.host_ip}"), err
        cid = c.id
        rt.remove(cid, force=True)
    wait_for(lambda: not leftovers(network_root, cid[:12]).get("forwarders"), what="the forwarder to go")
    assert leftovers(network_root, cid[:12]) == NOTHING
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", host_port), timeout=2).close()


def test_stop_closes_the_ports_and_start_brings_them_back(
    rt: EmbeddedRuntime, bb_rootfs: Path, network_root: str
) -> None:
    c = rt.start(rt.create(rootfs_spec(bb_rootfs, network="bridge", ports=(PortMapping(3000, 3000),))).id)
    port = c.ports[0].host_port
    start_httpd(rt, c.id, 3000, "first")
    assert http_get(port).strip() == "first"
    rt.stop(c.id, timeout=5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    c = rt.start(c.id)
    assert c.ports[0].host_port == port
    start_httpd(rt, c.id, 3000, "second")
    assert http_get(port).strip() == "second"


def test_auto_forward_in_a_runtime_container(rt: EmbeddedRuntime, bb_rootfs: Path, network_root: str) -> None:
    policy = parse_policy({"8123": {"label": "docs"}}, None)
    c = rt.start(rt.create(rootfs_spec(bb_rootfs, network="bridge", ports_policy=policy)).id)

    def auto() -> dict[int, int]:
        return {p.container_port: p.host_port for p in network.forwarded_ports(c.id).ports if p.source == "auto"}

    start_httpd(rt, c.id, 8123, "auto")
    wait_for(lambda: 8123 in auto(), what="8123 to be auto-forwarded")
    assert http_get(auto()[8123]).strip() == "auto"
    run_in(rt, c.id, "killall", "httpd")
    wait_for(lambda: 8123 not in auto(), what="8123 to go away")


@pytest.mark.slow
def test_apt_get_in_a_debian_container_reaches_the_mirror(
    rt: EmbeddedRuntime, debian_rootfs: Path, network_root: str
) -> None:
    host = apt_mirror().split("://", 1)[1].split("/", 1)[0]
    c = rt.start(rt.create(rootfs_spec(debian_rootfs, network="bridge")).id)
    code, out, err = run_in(rt, c.id, "getent", "ahostsv4", host)
    assert code == 0, err
    code, out, err = run_in(rt, c.id, "apt-get", "update", "-q")
    assert code == 0 and "Err:" not in out, out + err
