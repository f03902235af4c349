"""Forwarding outlives the CLI that set it up, comes back on the next start, and 100 cycles leak nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from devenv import network
from devenv.network import state
from devenv.runtime.base import PortMapping
from tests.support.netns import leftovers, netns, network_root, talk

__all__ = ["network_root"]

NOTHING = {"links": [], "addresses": [], "rules": [], "nft": [], "forwarders": []}

ATTACH = """
import sys
from devenv import network
from devenv.runtime.base import PortMapping
att = network.attach(sys.argv[1], sys.argv[2], "bridge", (PortMapping(3000, 3000),))
print(att.ports[0].host_port)
"""


def test_forwarding_survives_the_cli_that_set_it_up(network_root: str) -> None:
    with netns() as c:
        c.serve("durable", 3000)
        cli = subprocess.Popen([sys.executable, "-c", ATTACH, "keep-1", c.path], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
        out, _ = cli.communicate(timeout=60)
        assert cli.returncode == 0
        if _group_alive(cli.pid):
            os.killpg(cli.pid, signal.SIGKILL)  # whatever is left of the CLI's process group
        port = int(out)
        assert talk(port).startswith("durable ")
        att = state.load("keep-1")
        assert att is not None and att.forwarder_pid is not None
        # Not in the CLI's session (nor ours): a terminal hangup or the CLI's process group ending does not reach it.
        assert os.getsid(att.forwarder_pid) not in (os.getsid(0), cli.pid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_forwarding_comes_back_on_the_next_start(network_root: str) -> None:
    with netns() as c:
        c.serve("again", 3000)
        first = network.attach("restart-1", c.path, "bridge", (PortMapping(3000, 3000),))
        network.detach("restart-1")  # container stopped
        second = network.attach("restart-1", c.path, "bridge", (PortMapping(3000, 3000),))  # started again
        assert second.ports[0].host_port == first.ports[0].host_port
        assert talk(second.ports[0].host_port).startswith("again ")


@pytest.mark.slow
def test_one_hundred_attach_detach_cycles_leak_nothing(network_root: str) -> None:
    from devenv.network.ports import parse_policy

    fds_before = len(os.listdir("/proc/self/fd"))
    threads_before = set(threading.enumerate())
    assert leftovers(network_root, "cycle-") == NOTHING
    with netns() as c:
        for i in range(100):
            att = network.attach(
                f"cycle-{i}", c.path, "bridge", (PortMapping(3000, 0),), policy=parse_policy(None, None)
            )
            assert att.ip and att.forwarder_pid
            network.detach(f"cycle-{i}")
        assert [line.split(": ")[1] for line in c.run("ip", "-o", "link").stdout.splitlines()] == ["lo"]
    assert leftovers(network_root, "cycle-") == NOTHING
    assert state.all_ids() == []
    assert not any((state.directory()).iterdir())
    assert len(os.listdir("/proc/self/fd")) == fds_before
    # No thread started by attach/detach outlives them (threads of earlier tests may end meanwhile).
    assert set(threading.enumerate()) - threads_before == set()


def test_a_supervisor_can_run_the_forwarder_itself(network_root: str) -> None:
    import socket
    import subprocess

    from tests.support.netns import wait_for

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with netns() as c:
        c.serve("supervised", 3000)
        att = network.attach("sup-1", c.path, "bridge", (PortMapping(3000, port),), spawn_forwarder=False)
        assert att.forwarder_pid is None and network.forwarded_ports("sup-1").ports == ()
        proc = subprocess.Popen([sys.executable, "-m", "devenv.network.forwarder", "sup-1"])
        try:
            wait_for(lambda: network.forwarded_ports("sup-1").ports, what="the forwarder to publish its ports")
            assert network.forwarded_ports("sup-1").ports[0].host_port == port
            assert talk(port).startswith("supervised ")
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
        assert network.forwarded_ports("sup-1").ports == ()
        network.detach("sup-1")


PARALLEL = """
import sys
from devenv import network
from devenv.runtime.base import PortMapping
att = network.attach(sys.argv[1], sys.argv[2], "bridge", (PortMapping(3000, 3000),))
print(att.ip, att.ports[0].host_port)
"""


def test_concurrent_attaches_get_distinct_addresses_and_ports(network_root: str) -> None:
    import contextlib

    with contextlib.ExitStack() as stack:
        spaces = [stack.enter_context(netns()) for _ in range(6)]
        procs = [
            subprocess.Popen([sys.executable, "-c", PARALLEL, f"par-{i}", ns.path], stdout=subprocess.PIPE, text=True)
            for i, ns in enumerate(spaces)
        ]
        results = [p.communicate(timeout=120)[0].split() for p in procs]
        assert all(p.returncode == 0 for p in procs)
        ips = {ip for ip, _ in results}
        ports = {int(port) for _, port in results}
        assert len(ips) == 6 and len(ports) == 6
        for i, ns in enumerate(spaces):
            ns.serve(f"par-{i}", 3000)
        for i, (_, port) in enumerate(results):
            assert talk(int(port)).startswith(f"par-{i} ")
        for i in range(6):
            network.detach(f"par-{i}")
    assert leftovers(network_root, "par-") == NOTHING


def test_ports_are_not_listed_once_the_forwarder_is_gone(network_root: str) -> None:
    with netns() as c:
        att = network.attach("gone-1", c.path, "bridge", (PortMapping(3000, 0),))
        assert network.forwarded_ports("gone-1").ports
        assert att.forwarder_pid is not None
        os.kill(att.forwarder_pid, signal.SIGKILL)
        from tests.support.netns import wait_for

        wait_for(lambda: not network.forwarded_ports("gone-1").ports, what="the listing to notice")
        assert "not running" in network.forwarded_ports("gone-1").skipped[0]
        network.detach("gone-1")
