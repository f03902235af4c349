"""A private Docker engine for the benchmarks: its own data root, exec root, socket and bridge, with NAT
to the outside (feature install scripts run apt-get against the Debian mirror).

Why not the machine's engine: other sessions start and stop engines on this machine, their load would
skew ours, and a benchmark may not change what it does not own. In particular an engine started with
``--bridge=none`` deletes the host's ``docker0``, breaking every other Docker user. A bridge of our own
(never ``none``) and ``--iptables=false`` (Docker's own chains belong to the machine's engine; our NAT
rules are tagged with a comment and removed at the end) leave the host's networking as it was.
With ``--iptables=false`` every connection to a published port goes through docker-proxy, Docker's
userland proxy — which is what a client on 127.0.0.1 meets with the default settings anyway.

``stop()`` removes everything: the daemon and its containerd and shims, mounts under the data root,
the bridge, the rules, the directory. It is safe to call more than once and after a failed start.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from benchmarks import processes


def _run(*argv: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(list(argv), capture_output=True, check=check, timeout=timeout)
    except subprocess.TimeoutExpired:
        if check:
            raise
        return subprocess.CompletedProcess(list(argv), -9, b"", b"")


def _free_subnet() -> ipaddress.IPv4Network:
    routes = _run("ip", "-4", "route", "show").stdout.decode()
    used = [ipaddress.ip_network(w, strict=False) for line in routes.splitlines() for w in line.split()[:1] if "/" in w]
    for third in range(200, 250):
        net = ipaddress.IPv4Network(f"172.30.{third}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free 172.30.x.0/24 subnet for the benchmark's Docker bridge")


def unmount_under(path: Path) -> None:
    """Unmount everything mounted at or below ``path`` (deepest first), so that removing it cannot reach
    into a mounted file system."""
    prefix = str(path.resolve())
    targets = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        target = line.split()[4].replace("\\040", " ")
        if target == prefix or target.startswith(prefix + "/"):
            targets.append(target)
    for target in sorted(set(targets), key=len, reverse=True):
        _run("umount", "-l", target, check=False)


class PrivateEngine:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.sock = base / "docker.sock"
        self.bridge = f"dvbb-{secrets.token_hex(3)}"
        self.comment = f"devenv-bench:{self.bridge}"
        self.subnet: ipaddress.IPv4Network | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._rules: list[list[str]] = []

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for clients of this engine (docker CLI, devcontainers/cli, devenv --runtime docker)."""
        return {"DOCKER_HOST": self.host}

    def docker(self, *args: str) -> list[str]:
        return ["docker", "-H", self.host, *args]

    def output(self, *args: str) -> str:
        return subprocess.run(self.docker(*args), capture_output=True, text=True, check=True).stdout.strip()

    def __enter__(self) -> PrivateEngine:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> PrivateEngine:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if shutil.which("dockerd") is None:
            raise RuntimeError("dockerd is not installed (apt-get install docker.io)")
        longest = self.base / "exec" / "containerd" / "containerd.sock.ttrpc"
        if len(str(longest)) > 100:  # a unix socket's path has at most 107 bytes
            raise RuntimeError(f"{self.base}: too long a path for containerd's sockets; use a shorter one")
        self.subnet = _free_subnet()
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
                    f"--host={self.host}",
                    f"--bridge={self.bridge}",
                    "--iptables=false",
                    "--ip6tables=false",
                    "--ip-masq=false",
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it in order
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.base / "dockerd.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"the benchmark's dockerd exited:\n{log}")
            if _run(*self.docker("info"), check=False).returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError("the benchmark's dockerd did not start within 60 s")

    def version(self) -> str:
        try:
            return self.output("version", "--format", "{{.Server.Version}}")
        except (OSError, subprocess.CalledProcessError):
            return "?"

    def daemon_pids(self) -> set[int]:
        """dockerd and its containerd (shared by all containers of the engine)."""
        if self.proc is None:
            return set()
        toml = str(self.base / "exec" / "containerd" / "containerd.toml")
        return {self.proc.pid, *processes.matching(f"--config {toml}")}

    def empty(self) -> None:
        """Remove every container and image: the engine is empty again (no layers to reuse)."""
        containers = self.output("ps", "-aq").split()
        if containers:
            _run(*self.docker("rm", "-f", *containers), check=False)
        images = self.output("images", "-aq").split()
        if images:
            _run(*self.docker("rmi", "-f", *images), check=False)
        left = self.output("images", "-aq").split()
        if left:
            raise RuntimeError(f"the benchmark's Docker engine is not empty: {left}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            listed = _run(*self.docker("ps", "-aq"), check=False)
            ids = listed.stdout.decode().split() if listed.returncode == 0 else []
            if ids:
                _run(*self.docker("rm", "-f", *ids), check=False)
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Whatever the engine left running (containerd, shims, docker-proxy of a killed engine).
        leftovers = set(processes.matching(f"{self.base}/"))
        if self.proc is not None:  # once: the session id is the daemon's pid, free again after this
            leftovers |= processes.session(self.proc.pid)
            self.proc = None
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for rule in self._rules:
            _run(*rule, check=False)
        self._rules.clear()
        _run("ip", "link", "del", self.bridge, check=False)
        if self.base.exists():
            unmount_under(self.base)
            shutil.rmtree(self.base, ignore_errors=True)
