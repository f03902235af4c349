"""The network agent: containers of the embedded runtime attach through it; an unused bridge stays for
``bridge_linger`` seconds for the next container, then goes with its rules, and the agent exits."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from devenv import network
from devenv.network import agent
from devenv.runtime.embedded.runtime import EmbeddedRuntime
from tests.integration.runtime_helpers import rootfs_spec, run_in
from tests.support.netns import leftovers, network_root, wait_for

pytest_plugins = ("tests.integration.runtime_fixtures",)
__all__ = ["network_root"]

NOTHING = {"links": [], "addresses": [], "rules": [], "nft": [], "forwarders": []}


def agent_pids(root: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"devenv.network.agent {root} *$"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def bridge_index(bridge: str) -> int | None:
    try:
        return int(Path(f"/sys/class/net/{bridge}/ifindex").read_text())
    except OSError:
        return None


@pytest.fixture
def lingering(network_root: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DEVENV_BRIDGE_LINGER", "3")
    return network_root


def test_an_unused_bridge_stays_for_the_next_container_then_goes(
    rt: EmbeddedRuntime, bb_rootfs: Path, devenv_root: Path, lingering: str
) -> None:
    bridge = lingering
    first = rt.start(rt.create(rootfs_spec(bb_rootfs, network="bridge")).id)
    assert first.ip_address and network.get(first.id) is not None
    assert len(agent_pids(devenv_root)) == 1
    index = bridge_index(bridge)
    rt.remove(first.id, force=True)
    assert network.get(first.id) is None
    # Nobody uses the bridge now: it stays (with its NAT rule) for the next container.
    assert bridge_index(bridge) == index and leftovers(bridge, "zz")["rules"]
    second = rt.start(rt.create(rootfs_spec(bb_rootfs, network="bridge")).id)
    assert bridge_index(bridge) == index  # the same bridge, not a new one
    code, out, _ = run_in(rt, second.id, "ip", "route")
    assert code == 0 and "default via" in out
    rt.remove(second.id, force=True)
    # Unused for longer than the linger: the bridge, its addresses and rules go, and the agent exits.
    wait_for(lambda: leftovers(bridge, second.id[:12]) == NOTHING, timeout=15, what="the bridge to go")
    wait_for(lambda: not agent_pids(devenv_root), timeout=15, what="the network agent to exit")
    lock_file = agent.socket_name(str(devenv_root)).removesuffix(".sock") + ".lock"
    assert not os.path.exists(lock_file)  # (lock files of agents that are gone do not pile up in /run)


def test_a_killed_agent_loses_nothing(rt: EmbeddedRuntime, bb_rootfs: Path, devenv_root: Path, lingering: str) -> None:
    c = rt.start(rt.create(rootfs_spec(bb_rootfs, network="bridge")).id)
    (pid,) = agent_pids(devenv_root)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not agent_pids(devenv_root), timeout=10, what="the agent to die")
    # The next container gets a new agent; the first one's attachment is still known and detached.
    d = rt.start(rt.create(rootfs_spec(bb_rootfs, network="bridge")).id)
    assert d.ip_address and d.ip_address != c.ip_address
    rt.remove(c.id, force=True)
    rt.remove(d.id, force=True)
    assert network.get(c.id) is None and network.get(d.id) is None
    wait_for(lambda: leftovers(lingering, d.id[:12]) == NOTHING, timeout=15, what="the bridge to go")


def test_only_root_reaches_the_agent(devenv_root: Path, lingering: str) -> None:
    """The agent's socket is in a directory only root can enter (an abstract socket would be reachable from
    any process in the host's network namespace, --network host containers included)."""
    assert agent.call(str(devenv_root), {"op": "detach", "id": "nobody-here"}) == {"ok": True}
    path = agent.socket_name(str(devenv_root))
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    probe = "import socket, sys\ns = socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\nprint('connected')\n"
    out = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", probe, path],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode != 0 and "PermissionError" in out.stderr


def test_a_deleted_data_root_takes_its_bridge_along(
    bb_rootfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data root deleted while its bridge lingers (a test's temporary root, say): the agent notices,
    removes the bridge and its rules, exits, and does not make the root's directories again."""
    import shutil

    from devenv.network import settings

    root = tmp_path / "short-lived-root"
    root.mkdir()
    monkeypatch.setenv("DEVENV_ROOT", str(root))
    monkeypatch.setenv("DEVENV_BRIDGE_LINGER", "60")
    bridge = settings.load().bridge
    rt = EmbeddedRuntime(root)
    c = rt.start(rt.create(rootfs_spec(bb_rootfs, network="bridge")).id)
    rt.remove(c.id, force=True)
    assert bridge_index(bridge) is not None and agent_pids(root)  # lingering
    shutil.rmtree(root)
    wait_for(lambda: not agent_pids(root), timeout=20, what="the agent to exit")
    assert leftovers(bridge, c.id[:12]) == NOTHING
    assert not root.exists()


ECHO_SERVER = """
import socket
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 8000))
srv.listen(8)
while True:
    conn, _ = srv.accept()
    conn.sendall(b"echo:" + conn.recv(100))
    conn.close()
"""


def _echo(port: int) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"ping")
        return conn.recv(100)


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_published_port_is_served_by_a_fork_of_the_agent_that_outlives_it(devenv_root: Path, lingering: str) -> None:
    """The forwarder is forked from the agent (no new interpreter to start): it serves at once, is named
    after its container, and keeps none of the agent's descriptors (a new agent starts once it is killed)."""
    root, cid = str(devenv_root), "zzfork-1"
    server = subprocess.Popen(["unshare", "-n", "/usr/bin/python3", "-c", ECHO_SERVER])
    try:
        ports = [{"container_port": 8000, "host_port": 0, "host_ip": "127.0.0.1"}]
        answer = agent.call(root, {"op": "attach", "id": cid, "pid": server.pid, "mode": "bridge", "ports": ports})
        port = int(answer["ports"][0]["host_port"])
        assert _echo(port) == b"echo:ping"
        att = network.get(cid)
        assert att is not None and att.forwarder_pid is not None
        (agent_pid,) = agent_pids(devenv_root)
        assert _parent(att.forwarder_pid) == agent_pid
        cmdline = Path(f"/proc/{att.forwarder_pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert f"devenv.network.forwarder {cid}" in cmdline and "devenv.network.agent" not in cmdline
        assert os.getsid(att.forwarder_pid) == att.forwarder_pid
        os.kill(agent_pid, signal.SIGKILL)
        wait_for(lambda: not agent_pids(devenv_root), timeout=10, what="the agent to die")
        assert _echo(port) == b"echo:ping"  # (the forwarder goes on)
        assert agent.call(root, {"op": "detach", "id": cid}) == {"ok": True}  # a new agent: the lock was free
        wait_for(lambda: not Path(f"/proc/{att.forwarder_pid}").exists(), timeout=10, what="the forwarder to stop")
    finally:
        server.kill()
        server.wait()
    wait_for(lambda: leftovers(lingering, "zzfork") == NOTHING, timeout=15, what="the bridge to go")


def test_a_forwarder_of_a_namespace_given_by_path_follows_the_watched_process(
    devenv_root: Path, lingering: str
) -> None:
    """Attached by path before its init exists (the supervisor holds the namespace), a container's
    forwarder ends with the process the attach named to watch (its supervisor)."""
    root, cid = str(devenv_root), "zzwatch-1"
    server = subprocess.Popen(["unshare", "-n", "/usr/bin/python3", "-c", ECHO_SERVER])
    watched = subprocess.Popen(["sleep", "600"])
    try:
        ports = [{"container_port": 8000, "host_port": 0, "host_ip": "127.0.0.1"}]
        msg = {"op": "attach", "id": cid, "netns": f"/proc/{server.pid}/ns/net", "watch": watched.pid, "mode": "bridge"}
        answer = agent.call(root, {**msg, "ports": ports})
        assert _echo(int(answer["ports"][0]["host_port"])) == b"echo:ping"
        att = network.get(cid)
        assert att is not None and att.forwarder_pid is not None
        watched.kill()
        watched.wait()
        wait_for(lambda: network.forwarded_ports(cid).ports == (), timeout=10, what="the forwarder to stop")
        assert agent.call(root, {"op": "detach", "id": cid}) == {"ok": True}
    finally:
        server.kill()
        server.wait()
        watched.kill()
    wait_for(lambda: leftovers(lingering, "zzwatch") == NOTHING, timeout=15, what="the bridge to go")
