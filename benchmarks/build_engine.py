"""A private Docker engine for the build benchmark: its own data root, socket and bridge, with NAT to
the outside (feature install scripts run apt-get against the Debian mirror).

Why not the shared engine: other sessions start and stop engines on this machine, and an engine started
with ``--bridge=none`` deletes ``docker0`` from the host, which breaks every build on the shared engine
mid-run. A bridge of our own (never ``none``) is not touched by them, and their load does not skew ours.
"""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(argv), capture_output=True, check=check)


def _free_subnet() -> ipaddress.IPv4Network:
    routes = _run("ip", "-4", "route", "show").stdout.decode()
    used = [ipaddress.ip_network(w, strict=False) for line in routes.splitlines() for w in line.split()[:1] if "/" in w]
    for third in range(200, 250):
        net = ipaddress.IPv4Network(f"172.30.{third}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free 172.30.x.0/24 subnet for the benchmark's Docker bridge")


class PrivateEngine:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.sock = base / "docker.sock"
        self.bridge = f"dvbb-{secrets.token_hex(3)}"
        self.subnet = _free_subnet()
        self.comment = f"devenv-bench:{self.bridge}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._rules: list[list[str]] = []

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": f"unix://{self.sock}"}

    def __enter__(self) -> PrivateEngine:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _start(self) -> None:
        if shutil.which("dockerd") is None:
            raise RuntimeError("dockerd is not installed (apt-get install docker.io)")
        gateway = next(self.subnet.hosts())
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")
        tag = ["-m", "comment", "--comment", self.comment]
        established = ["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"]
        for table, chain, spec in (
            ("filter", "FORWARD", ["-i", self.bridge, *tag, "-j", "ACCEPT"]),
            ("filter", "FORWARD", ["-o", self.bridge, *established, *tag, "-j", "ACCEPT"]),
            ("nat", "POSTROUTING", ["-s", str(self.subnet), "!", "-o", self.bridge, *tag, "-j", "MASQUERADE"]),
        ):
            _run("iptables", "-t", table, "-I", chain, "1", *spec)
            self._rules.append(["iptables", "-t", table, "-D", chain, *spec])
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.base / "dockerd.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    "dockerd",
                    f"--data-root={self.base / 'data'}",
                    f"--exec-root={self.base / 'exec'}",
                    f"--pidfile={self.base / 'dockerd.pid'}",
                    f"--host=unix://{self.sock}",
                    f"--bridge={self.bridge}",
                    "--iptables=false",
                    "--ip6tables=false",
                    "--ip-masq=false",
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the benchmark's dockerd exited, see {self.base / 'dockerd.log'}")
            if _run("docker", "-H", f"unix://{self.sock}", "info", check=False).returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError("the benchmark's dockerd did not start within 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for rule in self._rules:
            _run(*rule, check=False)
        self._rules.clear()
        _run("ip", "link", "del", self.bridge, check=False)
        shutil.rmtree(self.base, ignore_errors=True)
