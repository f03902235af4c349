"""A tiny authoritative DNS server (UDP and TCP) answering A queries from a dict: a stand-in host resolver."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType


def parse_question(query: bytes) -> tuple[str, int, int]:
    """(name, qtype, end offset of the question)."""
    labels, i = [], 12
    while query[i]:
        n = query[i]
        labels.append(query[i + 1 : i + 1 + n].decode())
        i += n + 1
    qtype = struct.unpack("!H", query[i + 1 : i + 3])[0]
    return ".".join(labels), qtype, i + 5


def answer(query: bytes, records: dict[str, str]) -> bytes:
    name, qtype, end = parse_question(query)
    address = records.get(name.lower().rstrip("."))
    rcode = 0 if address is not None else 3
    ans = b""
    if address is not None and qtype == 1:
        ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(address)
    header = query[:2] + struct.pack("!HHHHH", 0x8180 | rcode, 1, 1 if ans else 0, 0, 0)
    return header + query[12:end] + ans


def query(name: str, ident: int = 0x1234) -> bytes:
    """An A query for ``name``."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)


class StubDns:
    def __init__(self, address: str, records: dict[str, str]) -> None:
        self.address = address
        self.records = records
        self.queries = 0
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.udp.bind((address, 53))
        self.tcp.bind((address, 53))
        self.tcp.listen(8)

    def __enter__(self) -> StubDns:
        threading.Thread(target=self._udp, daemon=True).start()
        threading.Thread(target=self._tcp, daemon=True).start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        for s in (self.udp, self.tcp):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _udp(self) -> None:
        while True:
            try:
                data, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            if not data:  # shut down
                return
            self.queries += 1
            try:
                reply = answer(data, self.records)
            except IndexError:
                raise AssertionError(f"malformed UDP query {data!r}") from None
            self.udp.sendto(reply, peer)

    def _tcp(self) -> None:
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with conn:
                size = struct.unpack("!H", conn.recv(2))[0]
                data = b""
                while len(data) < size:
                    data += conn.recv(size - len(data))
                self.queries += 1
                try:
                    reply = answer(data, self.records)
                except IndexError:
                    raise AssertionError(f"malformed TCP query {data!r}") from None
                conn.sendall(struct.pack("!H", len(reply)) + reply)
