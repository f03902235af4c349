"""Auto-forward: ports a process in the container starts listening on appear on the host, and go away."""

from __future__ import annotations

import socket

import pytest

from devenv import network
from devenv.network.ports import parse_policy
from devenv.network.state import ForwardedPort
from tests.support.netns import netns, network_root, talk, wait_for

__all__ = ["network_root"]


def auto_ports(cid: str) -> dict[int, ForwardedPort]:
    return {p.container_port: p for p in network.forwarded_ports(cid).ports if p.source == "auto"}


def test_listening_port_is_forwarded_then_removed_when_the_server_stops(network_root: str) -> None:
    policy = parse_policy({"7311": {"label": "Dev server"}}, None)
    with netns() as c:
        network.attach("auto-1", c.path, "bridge", policy=policy)
        assert auto_ports("auto-1") == {}
        server = c.serve("late", 7311, "127.0.0.1")
        found = wait_for(lambda: auto_ports("auto-1").get(7311), what="port 7311 to be auto-forwarded")
        assert isinstance(found, ForwardedPort)
        assert found.label == "Dev server" and found.host_ip == "127.0.0.1" and found.on_auto_forward == "notify"
        assert talk(found.host_port).startswith("late 127.0.0.1\nping")
        server.kill()
        server.wait()
        wait_for(lambda: 7311 not in auto_ports("auto-1"), what="port 7311 to be removed")
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", found.host_port), timeout=2).close()


def test_ignored_ports_and_other_ports_attributes(network_root: str) -> None:
    policy = parse_policy({"7400-7409": {"onAutoForward": "ignore"}}, {"label": "other", "onAutoForward": "silent"})
    with netns() as c:
        network.attach("auto-2", c.path, "bridge", policy=policy)
        c.serve("ignored", 7401)
        c.serve("seen", 7412)
        found = wait_for(lambda: auto_ports("auto-2").get(7412), what="port 7412")
        assert isinstance(found, ForwardedPort)
        assert (found.label, found.on_auto_forward) == ("other", "silent")
        assert 7401 not in auto_ports("auto-2")


def test_expression_keys_match_the_listening_command_line(network_root: str) -> None:
    policy = parse_policy({r"^\S*python\S* -c\s+import socket": {"label": "python server"}}, None)
    with netns() as c:
        network.attach("auto-3", c.path, "bridge", policy=policy)
        c.serve("cmd", 7520)
        found = wait_for(lambda: auto_ports("auto-3").get(7520), what="port 7520")
        assert isinstance(found, ForwardedPort) and found.label == "python server"


def test_auto_forward_takes_the_next_port_when_the_same_one_is_busy(network_root: str) -> None:
    with socket.socket() as busy, netns() as c:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        network.attach("auto-4", c.path, "bridge", policy=parse_policy(None, None))
        c.serve("shifted", port)
        found = wait_for(lambda: auto_ports("auto-4").get(port), what=f"port {port}")
        assert isinstance(found, ForwardedPort) and found.host_port != port
        assert talk(found.host_port).startswith("shifted")


def test_require_local_port_skips_a_busy_port_and_says_why(network_root: str) -> None:
    with socket.socket() as busy, netns() as c:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        policy = parse_policy({str(port): {"requireLocalPort": True}}, None)
        network.attach("auto-5", c.path, "bridge", policy=policy)
        c.serve("blocked", port)
        skipped = wait_for(lambda: network.forwarded_ports("auto-5").skipped, what="the skipped port")
        assert isinstance(skipped, tuple) and f"host port {port}" in skipped[0] and "in use" in skipped[0]
        assert port not in auto_ports("auto-5")


def test_configured_ports_are_not_forwarded_twice(network_root: str) -> None:
    from devenv.runtime.base import PortMapping

    with netns() as c:
        att = network.attach("auto-6", c.path, "bridge", (PortMapping(7600, 0),), policy=parse_policy(None, None))
        c.serve("configured", 7600)
        c.serve("extra", 7601)
        wait_for(lambda: 7601 in auto_ports("auto-6"), what="port 7601")
        listed = network.forwarded_ports("auto-6").ports
        assert [(p.container_port, p.source) for p in listed] == [(7600, "configured"), (7601, "auto")]
        assert listed[0].host_port == att.ports[0].host_port
