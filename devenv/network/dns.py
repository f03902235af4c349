"""DNS for containers: the resolv.conf they get, and a small forwarder for hosts with a loopback resolver.

Inside a container's namespace the host's 127.0.0.53 (systemd-resolved) or 127.0.0.1 (dnsmasq) is not
the host. So a bridged container gets the host's upstream servers: ``DEVENV_DNS``, else the non-loopback
IPv4 servers of the host's resolv.conf, else those of systemd-resolved's upstream file. When the host
only has a loopback resolver, the container gets ``nameserver 127.0.0.11`` and its forwarder process
answers there (:class:`DnsProxy`), relaying to the host's resolver from the host's namespace.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

from devenv.errors import NetworkError
from devenv.network import nsutil
from devenv.runtime.base import NetworkMode

PROXY_ADDRESS = "127.0.0.11"
RESOLVED_UPSTREAM = Path("/run/systemd/resolve/resolv.conf")


@dataclass(frozen=True)
class DnsPlan:
    resolv_conf: str  # the container's /etc/resolv.conf
    servers: tuple[str, ...]  # the nameservers it lists
    proxy_upstreams: tuple[str, ...] = ()  # non-empty: run a DnsProxy relaying to these (host loopback servers)


def _parse(text: str) -> tuple[list[str], list[str]]:
    servers: list[str] = []
    other: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1].split("%")[0])
        elif words[0] in ("search", "domain", "options"):
            other.append(" ".join(words))
    return servers, other


def _usable(server: str) -> bool:
    try:
        addr = ipaddress.ip_address(server)
    except ValueError:
        return False
    return addr.version == 4 and not addr.is_loopback and not addr.is_unspecified


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def plan(
    mode: NetworkMode,
    host_resolv_conf: Path,
    override: tuple[str, ...] = (),
    resolved_upstream: Path = RESOLVED_UPSTREAM,
) -> DnsPlan:
    """What the container's resolv.conf says, for network ``mode``."""
    text = _read(host_resolv_conf)
    header = "# written by devenv\n"
    if mode == "host":
        servers, _ = _parse(text)
        return DnsPlan(text, tuple(servers))
    if mode == "none":
        return DnsPlan(header + "# network mode none: no DNS\n", ())
    servers, other = _parse(text)
    chosen = [s for s in override if s] or [s for s in servers if _usable(s)]
    if not chosen and any(ipaddress.ip_address(s).is_loopback for s in servers if _valid(s)):
        upstream, _ = _parse(_read(resolved_upstream))
        chosen = [s for s in upstream if _usable(s)]
    proxy: tuple[str, ...] = ()
    if not chosen:
        proxy = tuple(s for s in servers if _valid(s) and ipaddress.ip_address(s).is_loopback) or ("127.0.0.1",)
        chosen = [PROXY_ADDRESS]
    body = "".join(f"nameserver {s}\n" for s in chosen[:3]) + "".join(f"{line}\n" for line in other)
    return DnsPlan(header + body, tuple(chosen[:3]), proxy)


def _valid(server: str) -> bool:
    try:
        ipaddress.ip_address(server)
    except ValueError:
        return False
    return True


class DnsProxy:
    """Answers DNS on 127.0.0.11:53 (UDP and TCP) inside a namespace by asking ``upstreams`` from the host."""

    def __init__(
        self, udp: socket.socket, tcp: socket.socket, upstreams: tuple[str, ...], timeout: float = 5.0
    ) -> None:
        self.udp, self.tcp = udp, tcp
        self.upstreams = upstreams
        self.timeout = timeout
        self._closed = False

    @staticmethod
    def bind(netns_fd: int) -> tuple[socket.socket, socket.socket]:
        """The proxy's UDP and TCP sockets on 127.0.0.11:53 inside the namespace (bound, listening)."""
        udp = nsutil.socket_in_netns(netns_fd, socket.AF_INET, socket.SOCK_DGRAM)
        tcp = nsutil.socket_in_netns(netns_fd, socket.AF_INET, socket.SOCK_STREAM)
        try:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            udp.bind((PROXY_ADDRESS, 53))
            tcp.bind((PROXY_ADDRESS, 53))
            tcp.listen(64)
        except OSError as exc:
            udp.close()
            tcp.close()
            raise NetworkError(
                f"cannot start the container's DNS forwarder on {PROXY_ADDRESS}:53: {exc.strerror}",
                remedy="set DEVENV_DNS to your DNS servers",
            ) from None
        return udp, tcp

    def start(self) -> None:
        threading.Thread(target=self._serve_udp, name="dns-udp", daemon=True).start()
        threading.Thread(target=self._serve_tcp, name="dns-tcp", daemon=True).start()

    def close(self) -> None:
        self._closed = True
        for sock in (self.udp, self.tcp):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _serve_udp(self) -> None:
        while not self._closed:
            try:
                query, client = self.udp.recvfrom(65535)
            except OSError:
                return
            threading.Thread(target=self._answer_udp, args=(query, client), daemon=True).start()

    def _answer_udp(self, query: bytes, client: tuple[str, int]) -> None:
        for server in self.upstreams:
            with socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM) as up:
                up.settimeout(self.timeout)
                try:
                    up.sendto(query, (server, 53))
                    answer = up.recv(65535)
                except OSError:
                    continue
            with contextlib.suppress(OSError):
                self.udp.sendto(answer, client)
            return

    def _serve_tcp(self) -> None:
        from devenv.network.relay import relay

        while not self._closed:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            for server in self.upstreams:
                try:
                    up = socket.create_connection((server, 53), timeout=self.timeout)
                except OSError:
                    continue
                up.settimeout(None)
                relay(conn, up)
                break
            else:
                conn.close()
