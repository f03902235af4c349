"""Network namespaces for tests: containers stand-ins, a fake "internet", and small servers inside them.

Everything gets a unique name (kernel objects are machine-wide and other tests run at the same time)
and is removed at the end, also when the test fails.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_counter = itertools.count()

# A TCP server: answers every connection with NAME and the client's address, then echoes what it reads.
SERVER = r"""
import socket, sys, threading
name, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
srv = socket.socket(fam, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((host, port)); srv.listen(64)
print("listening", flush=True)
def serve(c, peer):
    with c:
        c.sendall(f"{name} {peer[0]}\n".encode())
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)
while True:
    c, peer = srv.accept()
    threading.Thread(target=serve, args=(c, peer), daemon=True).start()
"""


def unique(prefix: str) -> str:
    """``prefix`` + pid + counter, at most 15 characters (interface name limit)."""
    return f"{prefix}{os.getpid() % 100000}{next(_counter)}"[:15]


def run(*argv: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=120, **kw)  # type: ignore[call-overload, no-any-return]


@dataclass
class Netns:
    name: str
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def exec_argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def run(self, *argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.exec_argv(*argv), capture_output=True, text=True, check=check, timeout=timeout)

    def serve(self, name: str, port: int, host: str = "0.0.0.0") -> subprocess.Popen[str]:
        """Start :data:`SERVER` inside; returns once it listens."""
        proc = subprocess.Popen(
            self.exec_argv(sys.executable, "-c", SERVER, name, host, str(port)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "listening", proc.stderr.read() if proc.stderr else line
        return proc

    def lo_up(self) -> None:
        self.run("ip", "link", "set", "lo", "up")

    def set_resolv_conf(self, text: str) -> None:
        """What ``ip netns exec`` bind-mounts over /etc/resolv.conf for processes inside."""
        d = Path("/etc/netns") / self.name
        d.mkdir(parents=True, exist_ok=True)
        (d / "resolv.conf").write_text(text)

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        run("ip", "netns", "del", self.name, check=False)
        d = Path("/etc/netns") / self.name
        with contextlib.suppress(FileNotFoundError):
            (d / "resolv.conf").unlink()
        with contextlib.suppress(OSError):
            d.rmdir()


@contextlib.contextmanager
def netns(prefix: str = "dvt") -> Iterator[Netns]:
    ns = Netns(unique(prefix))
    run("ip", "netns", "add", ns.name)
    try:
        yield ns
    finally:
        ns.close()


@dataclass
class Internet:
    """A namespace reachable from the host through a veth pair: stands in for a server on the internet."""

    ns: Netns
    host_ip: str  # the host's end; masqueraded container traffic comes from here
    server_ip: str


@contextlib.contextmanager
def internet() -> Iterator[Internet]:
    with netns("dvi") as ns:
        host_if, peer_if = unique("dvih"), unique("dvip")
        third = random.randrange(0, 256)
        net = f"198.18.{third}"
        run("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        try:
            run("ip", "link", "set", peer_if, "netns", ns.name)
            run("ip", "addr", "add", f"{net}.1/30", "dev", host_if)
            run("ip", "link", "set", host_if, "up")
            ns.run("ip", "addr", "add", f"{net}.2/30", "dev", peer_if)
            ns.run("ip", "link", "set", peer_if, "up")
            ns.lo_up()
            ns.run("ip", "route", "add", "default", "via", f"{net}.1")
            yield Internet(ns, f"{net}.1", f"{net}.2")
        finally:
            run("ip", "link", "del", host_if, check=False)


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def talk(port: int, host: str = "127.0.0.1", payload: bytes = b"ping\n", timeout: float = 10.0) -> str:
    """Connect, read the server's greeting line, send ``payload``, read the echo; returns greeting + echo."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        f = s.makefile("rb")
        greeting = f.readline().decode()
        s.sendall(payload)
        echo = f.read(len(payload)).decode()
        return greeting + echo


def leftovers(bridge: str, id_prefix: str) -> dict[str, list[str]]:
    """Everything on the host that belongs to ``bridge`` or to containers whose id starts with ``id_prefix``:
    links (by name or alias), addresses, iptables and nftables rules, forwarder processes."""
    links = [line for line in run("ip", "-o", "-d", "link", "show").stdout.splitlines()
             if bridge in line or f"devenv:{id_prefix}" in line]  # fmt: skip
    addrs = [line for line in run("ip", "-o", "addr", "show").stdout.splitlines() if bridge in line]
    rules = [line for table in ("filter", "nat") for line in run("iptables-save", "-t", table).stdout.splitlines()
             if bridge in line]  # fmt: skip
    table = "devenv_" + bridge.replace("-", "_")
    nft = [line for line in run("nft", "list", "ruleset").stdout.splitlines() if bridge in line or table in line]
    procs = [line for line in run("ps", "-eo", "pid,args").stdout.splitlines()
             if "devenv.network.forwarder" in line and f" {id_prefix}" in line]  # fmt: skip
    return {"links": links, "addresses": addrs, "rules": rules, "nft": nft, "forwarders": procs}


def apt_mirror() -> str:
    """The Debian mirror the machine's apt sources use (taken from the configuration, never named here)."""
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = line.split()
            if line.startswith("URIs:") and "/debian" in line and "security" not in line:
                return words[1]
            if words[:1] == ["deb"] and "/debian" in line and "security" not in line:
                return next(w for w in words[1:] if "://" in w)
    raise AssertionError("no Debian mirror in the apt sources")


@pytest.fixture
def network_root(devenv_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An isolated data root (hence its own bridge, ``dv-<hash>``); yields the bridge name. Detaches
    whatever the test left attached, so a failing test does not leak into the next ones."""
    from devenv.network import detach, settings, state

    monkeypatch.setenv("DEVENV_AUTOFORWARD_INTERVAL", "0.1")
    # The last container takes the bridge and its rules away at once (the tests check that nothing is
    # left); the default keeps an unused bridge a while for the next container (test_network_agent.py).
    monkeypatch.setenv("DEVENV_BRIDGE_LINGER", "0")
    bridge = settings.load().bridge
    yield bridge
    for cid in state.all_ids():
        with contextlib.suppress(Exception):
            detach(cid)
