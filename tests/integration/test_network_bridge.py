"""Bridge networking against the real kernel: forwarded ports, NAT to a stand-in internet, DNS, apt."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from devenv import network
from devenv.errors import NetworkError
from devenv.network import nsutil, state
from devenv.runtime.base import PortMapping
from tests.support.netns import apt_mirror, internet, leftovers, netns, network_root, talk, wait_for

__all__ = ["network_root"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_containers_listening_on_3000_get_distinct_host_ports(network_root: str) -> None:
    with netns() as a, netns() as b:
        att_a = network.attach("web-a", a.path, "bridge", (PortMapping(3000, 3000),))
        att_b = network.attach("web-b", b.path, "bridge", (PortMapping(3000, 3000),))
        a.serve("alpha", 3000, "127.0.0.1")  # bound to the container's localhost only
        b.serve("beta", 3000)
        port_a, port_b = att_a.ports[0].host_port, att_b.ports[0].host_port
        assert port_a != port_b
        assert att_a.ports[0].host_ip == att_b.ports[0].host_ip == "127.0.0.1"
        assert talk(port_a).startswith("alpha 127.0.0.1\nping")
        assert talk(port_b).startswith("beta 127.0.0.1\nping")
        listed = network.forwarded_ports("web-b").ports
        assert [(p.container_port, p.host_port) for p in listed] == [(3000, port_b)]
        network.detach("web-a")
        network.detach("web-b")
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port_a), timeout=2).close()
    assert leftovers(network_root, "web-") == {"links": [], "addresses": [], "rules": [], "nft": [], "forwarders": []}


def test_container_reaches_another_namespace_through_nat(network_root: str) -> None:
    with internet() as inet, netns() as c:
        inet.ns.serve("internet", 8080)
        att = network.attach("nat-1", c.path)
        assert att.ip is not None and att.gateway is not None
        probe = c.run("python3", "-c", PROBE, inet.server_ip, "8080")
        # The server sees the host's address, not the container's: the connection was masqueraded.
        assert probe.stdout.splitlines()[0] == f"internet {inet.host_ip}"
        assert att.ip not in probe.stdout


PROBE = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print(s.makefile().readline().strip())
"""


def test_dns_resolution_inside_the_namespace(network_root: str) -> None:
    host = apt_mirror().split("://", 1)[1].split("/", 1)[0]
    with netns() as c:
        att = network.attach("dns-1", c.path)
        assert att.resolv_conf == network.resolv_conf("bridge")
        assert all(not s.startswith("127.") for s in att.dns_servers)
        c.set_resolv_conf(att.resolv_conf)
        result = c.run("getent", "ahostsv4", host, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[0].count(".") == 3


@pytest.mark.slow
def test_apt_get_reaches_the_debian_mirror_through_the_host(network_root: str, tmp_path: Path) -> None:
    mirror = apt_mirror()
    sources = tmp_path / "sources.list"
    sources.write_text(f"deb {mirror} bookworm main\n")
    lists = tmp_path / "lists"
    (lists / "partial").mkdir(parents=True)
    with netns() as c:
        att = network.attach("apt-1", c.path)
        c.set_resolv_conf(att.resolv_conf)
        result = c.run(
            "apt-get", "update", "-q",
            "-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", f"Dir::State::Lists={lists}", "-o", "APT::Sandbox::User=root",
            timeout=300,
        )  # fmt: skip
        assert "Err:" not in result.stdout, result.stdout + result.stderr
        assert any(p.name.endswith("_InRelease") for p in lists.iterdir()), result.stdout


def test_required_host_port_in_use_is_a_clear_error_and_leaves_nothing(network_root: str) -> None:
    with socket.socket() as busy, netns() as c:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(NetworkError) as info:
            network.attach("busy-1", c.path, "bridge", (PortMapping(3000, port, require_local_port=True),))
        assert f"host port {port}" in info.value.message and "already in use" in info.value.message
        assert info.value.remedy and "requireLocalPort" in info.value.remedy
        assert state.load("busy-1") is None
        assert leftovers(network_root, "busy-") == {
            "links": [],
            "addresses": [],
            "rules": [],
            "nft": [],
            "forwarders": [],
        }
        # Without requireLocalPort the next free port is taken.
        att = network.attach("busy-2", c.path, "bridge", (PortMapping(3000, port),))
        assert att.ports[0].host_port > port


def test_servers_bound_to_the_bridge_address_only_are_reached(network_root: str) -> None:
    with netns() as c:
        att = network.attach("eth-1", c.path, "bridge", (PortMapping(4000, free_port()),))
        assert att.ip is not None
        c.serve("bridge-only", 4000, att.ip)
        assert talk(att.ports[0].host_port).startswith("bridge-only ")


def test_none_mode_still_forwards_ports(network_root: str) -> None:
    with netns() as c:
        c.lo_up()
        att = network.attach("none-1", c.path, "none", (PortMapping(5000, 0),))
        assert att.ip is None and att.ports[0].host_port != 0
        c.serve("isolated", 5000, "127.0.0.1")
        assert talk(att.ports[0].host_port).startswith("isolated 127.0.0.1")
        assert "eth0" not in c.run("ip", "-o", "link").stdout


def test_pid_namespace_reference_and_forwarder_exit_with_the_container(network_root: str) -> None:
    proc = subprocess.Popen(["unshare", "--net", "sleep", "600"])
    try:
        host = nsutil.netns_identity("/proc/self/ns/net")
        wait_for(lambda: nsutil.netns_identity(f"/proc/{proc.pid}/ns/net") != host, what="unshare to enter its netns")
        att = network.attach("pid-1", proc.pid, "bridge", (PortMapping(6000, 0),))
        assert att.netns == f"/proc/{proc.pid}/ns/net" and att.forwarder_pid
        assert Path(f"/proc/{att.forwarder_pid}").exists()
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: not Path(f"/proc/{att.forwarder_pid}").exists(), what="the forwarder to exit with the container")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", att.ports[0].host_port), timeout=2).close()
    network.detach("pid-1")
    assert leftovers(network_root, "pid-") == {"links": [], "addresses": [], "rules": [], "nft": [], "forwarders": []}


def test_resolv_conf_via_the_dns_proxy_when_the_host_resolver_is_loopback(
    network_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.dnsstub import StubDns

    with StubDns("127.0.0.153", {"devenv-probe.test": "192.0.2.77"}) as stub, netns() as c:
        host_conf = Path(tempfile.mkdtemp()) / "resolv.conf"
        host_conf.write_text(f"nameserver {stub.address}\n")
        monkeypatch.setenv("DEVENV_RESOLV_CONF", str(host_conf))
        att = network.attach("proxy-1", c.path)
        assert att.dns_servers == ("127.0.0.11",) and att.forwarder_pid
        c.set_resolv_conf(att.resolv_conf)
        udp = c.run("getent", "ahostsv4", "devenv-probe.test", check=False)
        assert udp.stdout.split()[:1] == ["192.0.2.77"], udp
        tcp = c.run("python3", "-c", TCP_QUERY, "devenv-probe.test")
        assert tcp.stdout.strip() == "192.0.2.77"
        assert stub.queries >= 2


# Inside the namespace: one A query over TCP to the first nameserver of /etc/resolv.conf; prints the address.
TCP_QUERY = """
import socket, struct, sys
name = sys.argv[1]
server = next(l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver"))
q = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0" + struct.pack("!HH", 1, 1)
s = socket.create_connection((server, 53), timeout=10)
s.sendall(struct.pack("!H", len(q)) + q)
size = struct.unpack("!H", s.recv(2))[0]
data = b""
while len(data) < size:
    data += s.recv(size - len(data))
print(socket.inet_ntoa(data[-4:]))
"""


def test_large_transfers_arrive_byte_exact_and_half_close_is_passed_on(network_root: str) -> None:
    import hashlib
    import threading

    payload = os.urandom(24 << 20)
    with netns() as c:
        att = network.attach("bulk-1", c.path, "bridge", (PortMapping(3000, 0),))
        c.serve("bulk", 3000)
        with socket.create_connection(("127.0.0.1", att.ports[0].host_port), timeout=30) as s:
            reader = s.makefile("rb")
            assert reader.readline().startswith(b"bulk ")
            received = hashlib.sha256()
            count = [0]

            def read_back() -> None:
                while chunk := reader.read1(1 << 20):
                    received.update(chunk)
                    count[0] += len(chunk)

            t = threading.Thread(target=read_back)
            t.start()
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)  # the server sees EOF, stops echoing and closes: we then see EOF
            t.join(60)
            assert not t.is_alive()
        assert count[0] == len(payload)
        assert received.hexdigest() == hashlib.sha256(payload).hexdigest()


UDP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(b"echo:" + data, peer)
"""


def test_udp_ports_are_forwarded(network_root: str) -> None:
    with netns() as c:
        server = subprocess.Popen(c.exec_argv("python3", "-c", UDP_ECHO, "5300"), stdout=subprocess.PIPE, text=True)
        c.procs.append(server)
        assert server.stdout is not None and server.stdout.readline().strip() == "listening"
        att = network.attach("udp-1", c.path, "bridge", (PortMapping(5300, 0, protocol="udp"),))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            for i in range(3):
                s.sendto(f"hello {i}".encode(), ("127.0.0.1", att.ports[0].host_port))
                assert s.recv(100) == f"echo:hello {i}".encode()
