"""The container's network namespace (created by the runtime) and its attachment by devenv.network:
``none`` (loopback only), ``host`` (the host's namespace), ``bridge`` (an address, /etc/hosts and
/etc/resolv.conf, published ports), and nothing left attached after rm."""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path

import pytest

from devenv import network
from devenv.runtime.base import PortMapping
from devenv.runtime.embedded.runtime import EmbeddedRuntime
from tests.integration.runtime_helpers import rootfs_spec, run_in, wait_for

pytest_plugins = ("tests.integration.runtime_fixtures",)


def test_network_none_has_only_loopback_and_it_is_up(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.start(rt.create(rootfs_spec(bb_rootfs, network="none")).id)
    out = run_in(rt, c.id, "ip", "-o", "link")[1]
    assert [line.split(":")[1].strip() for line in out.splitlines()] == ["lo"]
    assert "UP" in out
    assert run_in(rt, c.id, "ping", "-c1", "-W1", "127.0.0.1")[0] == 0
    assert network.get(c.id) is None  # nothing to attach


def test_network_host_shares_the_hosts_namespace(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    c = rt.start(rt.create(rootfs_spec(bb_rootfs, network="host")).id)
    assert c.pid
    assert os.stat(f"/proc/{c.pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino
    assert run_in(rt, c.id, "cat", "/etc/hosts")[1] == Path("/etc/hosts").read_text()


@pytest.mark.slow
def test_bridge_gives_an_address_hosts_entry_and_published_port(rt: EmbeddedRuntime, bb_rootfs: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = "mkdir -p /www && echo hello-from-container > /www/index.html && exec httpd -f -p 8080 -h /www"
    spec = rootfs_spec(
        bb_rootfs, "sh", "-c", script, network="bridge", ports=(PortMapping(8080, port, require_local_port=True),)
    )
    c = rt.start(rt.create(spec).id)
    assert c.ip_address
    assert run_in(rt, c.id, "cat", "/etc/hosts")[1].splitlines()[-1] == f"{c.ip_address}\t{c.id[:12]}"
    assert c.ip_address in run_in(rt, c.id, "ip", "-o", "addr", "show", "eth0")[1]
    assert run_in(rt, c.id, "cat", "/etc/resolv.conf")[1] == network.resolv_conf("bridge")
    assert [p.host_port for p in c.ports] == [port]

    def served() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                return bool(resp.read() == b"hello-from-container\n")
        except OSError:
            return False

    wait_for(served, timeout=20, what="the published port")
    rt.remove(c.id, force=True)
    assert network.get(c.id) is None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
