"""A small synchronous rtnetlink client: the few messages devenv sends, over a plain netlink socket.

Attaching a container takes a handful of requests (create a veth, name it, configure its peer inside
the container), on the container's start path. A general netlink library spends far longer building and
parsing each message in Python than the kernel spends carrying it out (pyroute2's classes: about half a
millisecond per message). The messages here are a fixed header and a few attributes, so they are packed
and unpacked with :mod:`struct` directly, and requests that do not depend on each other's answers go to
the kernel in one ``send`` (:meth:`Rtnl.batch`): the kernel carries them out in order and acknowledges
each. Replies are decoded only as far as devenv reads them (:class:`Link`, :class:`Addr`, :class:`Route`).
"""

from __future__ import annotations

import errno
import os
import socket
import struct

TYPE_CHECKING = False  # (typing is not imported at run time)
if TYPE_CHECKING:
    Attr = tuple[int, bytes | str | int | list["Attr"]]

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_ACK, NLM_F_ECHO, NLM_F_DUMP = 1, 4, 8, 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_GETROUTE = 20, 22, 24, 26
IFF_UP = 1
IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 3, 4, 5, 10, 18, 20, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
_ATTR = struct.Struct("=HH")  # rtattr: length, type
_U32 = struct.Struct("=I")
_ERROR = struct.Struct("=i")


class NetlinkFailure(OSError):
    """The kernel refused a request (``errno`` is its error)."""


def encode_attrs(attrs: list[Attr]) -> bytes:
    """rtattrs: a str is NUL-terminated, an int a u32, a list nested attributes, bytes as they are."""
    out = bytearray()
    for kind, value in attrs:
        if isinstance(value, str):
            data = value.encode() + b"\0"
        elif isinstance(value, int):
            data = _U32.pack(value)
        elif isinstance(value, list):
            data = encode_attrs(value)
        else:
            data = value
        out += _ATTR.pack(_ATTR.size + len(data), kind) + data
        out += b"\0" * (-len(data) % 4)
    return bytes(out)


def decode_attrs(data: bytes | memoryview, offset: int = 0) -> dict[int, bytes]:
    """Attribute type (without the nested/byte-order flags) -> payload; the first of a repeated type."""
    found: dict[int, bytes] = {}
    end = len(data)
    while offset + _ATTR.size <= end:
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            break
        found.setdefault(kind & 0x3FFF, bytes(data[offset + _ATTR.size : offset + length]))
        offset += (length + 3) & ~3
    return found


def _string(raw: bytes | None) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace") if raw else ""


def _u32(raw: bytes | None) -> int:
    return int(_U32.unpack_from(raw)[0]) if raw and len(raw) >= 4 else 0


def ifinfo(index: int = 0, *, up: bool | None = None) -> bytes:
    flags = IFF_UP if up else 0
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, IFF_UP if up is not None else 0)


class Link:
    """What devenv reads of a link message."""

    __slots__ = ("alias", "flags", "index", "kind", "master", "mtu", "name", "peer_index")

    def __init__(self, payload: bytes) -> None:
        _, _, self.index, self.flags, _ = _IFINFO.unpack_from(payload)
        attrs = decode_attrs(payload, _IFINFO.size)
        self.name = _string(attrs.get(IFLA_IFNAME))
        self.mtu = _u32(attrs.get(IFLA_MTU))
        self.master = _u32(attrs.get(IFLA_MASTER))
        self.alias = _string(attrs.get(IFLA_IFALIAS))
        self.peer_index = _u32(attrs.get(IFLA_LINK))  # a veth's peer (in the peer's namespace)
        info = attrs.get(IFLA_LINKINFO)
        self.kind = _string(decode_attrs(info).get(IFLA_INFO_KIND)) if info else ""


class Addr:
    """An IPv4 address message: ``address`` and ``prefixlen`` of the link ``index``."""

    __slots__ = ("address", "index", "prefixlen")

    def __init__(self, payload: bytes) -> None:
        _, self.prefixlen, _, _, self.index = _IFADDR.unpack_from(payload)
        attrs = decode_attrs(payload, _IFADDR.size)
        raw = attrs.get(IFA_ADDRESS) or attrs.get(IFA_LOCAL) or b""
        self.address = socket.inet_ntop(socket.AF_INET, raw) if len(raw) == 4 else ""


class Route:
    """An IPv4 route message: destination (``dst``/``dst_len``, "" for the default), table, output link."""

    __slots__ = ("dst", "dst_len", "oif", "table")

    def __init__(self, payload: bytes) -> None:
        _, self.dst_len, _, _, table, _, _, _, _ = _RTMSG.unpack_from(payload)
        attrs = decode_attrs(payload, _RTMSG.size)
        raw = attrs.get(RTA_DST) or b""
        self.dst = socket.inet_ntop(socket.AF_INET, raw) if len(raw) == 4 else ""
        self.table = _u32(attrs.get(RTA_TABLE)) or table
        self.oif = _u32(attrs.get(RTA_OIF))


class Request:
    """One message to send: type, flags (REQUEST and ACK are added), its fixed header and attributes."""

    __slots__ = ("body", "flags", "msg_type")

    def __init__(self, msg_type: int, flags: int, header: bytes, attrs: list[Attr] | None = None) -> None:
        self.msg_type, self.flags = msg_type, flags
        self.body = header + encode_attrs(attrs or [])


class Rtnl:
    """One rtnetlink socket (of the namespace it was created in). Requests are sequential."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock = sock
        self.sock.bind((0, 0))
        self.seq = int.from_bytes(os.urandom(2), "little")

    def close(self) -> None:
        self.sock.close()

    def batch(self, requests: list[Request]) -> list[list[bytes]]:
        """Send the requests in one ``send``; for each, the payloads of the messages it was answered with
        (after its acknowledgement, or the end of its dump). The kernel carries out every request; the
        first refusal is raised (NetlinkFailure with its errno) once all are answered."""
        data = bytearray()
        seqs: dict[int, int] = {}
        dumps: set[int] = set()
        for position, req in enumerate(requests):
            self.seq = (self.seq + 1) & 0xFFFFFFFF
            seqs[self.seq] = position
            # (NLM_F_DUMP shares bits with NLM_F_EXCL / NLM_F_CREATE: a GET with them is a dump)
            if req.msg_type in (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE) and req.flags & NLM_F_DUMP == NLM_F_DUMP:
                dumps.add(self.seq)
            flags = req.flags | NLM_F_REQUEST | NLM_F_ACK
            data += _HEADER.pack(_HEADER.size + len(req.body), req.msg_type, flags, self.seq, 0) + req.body
        self.sock.send(data)
        answers: list[list[bytes]] = [[] for _ in requests]
        failures: list[tuple[int, int]] = []
        pending = set(seqs)
        while pending:
            chunk = self.sock.recv(1 << 20)
            offset = 0
            while offset + _HEADER.size <= len(chunk):
                length, msg_type, _, seq, _ = _HEADER.unpack_from(chunk, offset)
                if length < _HEADER.size:
                    raise NetlinkFailure(errno.EPROTO, "truncated netlink message")
                start, offset = offset, offset + ((length + 3) & ~3)
                if seq not in pending:
                    continue  # an answer to an earlier, abandoned request
                if msg_type == NLMSG_ERROR:
                    code = -_ERROR.unpack_from(chunk, start + _HEADER.size)[0]
                    if code:
                        failures.append((seqs[seq], code))
                        pending.discard(seq)
                    elif seq not in dumps:
                        pending.discard(seq)
                elif msg_type == NLMSG_DONE:
                    pending.discard(seq)
                else:
                    answers[seqs[seq]].append(chunk[start + _HEADER.size : start + length])
        if failures:
            code = min(failures)[1]
            raise NetlinkFailure(code, os.strerror(code))
        return answers

    def request(self, req: Request) -> list[bytes]:
        return self.batch([req])[0]

    # -- links ----------------------------------------------------------------------------------------
    def get_link(self, name: str | None = None, index: int = 0) -> Link | None:
        attrs: list[Attr] = [(IFLA_IFNAME, name)] if name else []
        try:
            found = self.request(Request(RTM_GETLINK, 0, ifinfo(index), attrs))
        except NetlinkFailure as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
        return Link(found[0]) if found else None

    def dump_links(self) -> list[Link]:
        return [Link(m) for m in self.request(Request(RTM_GETLINK, NLM_F_DUMP, ifinfo()))]

    @staticmethod
    def new_link(attrs: list[Attr], *, up: bool = False, echo: bool = False) -> Request:
        """Create a link (``echo``: the kernel answers with the new link's message, kernels >= 6.1)."""
        flags = NLM_F_CREATE | NLM_F_EXCL | (NLM_F_ECHO if echo else 0)
        return Request(RTM_NEWLINK, flags, ifinfo(up=True if up else None), attrs)

    @staticmethod
    def set_link(index: int, attrs: list[Attr], *, up: bool | None = None) -> Request:
        """Change a link, by ``index`` or (0) by the IFLA_IFNAME in ``attrs``."""
        return Request(RTM_NEWLINK, 0, ifinfo(index, up=up), attrs)

    def del_link(self, name: str) -> bool:
        try:
            self.request(Request(RTM_DELLINK, 0, ifinfo(), [(IFLA_IFNAME, name)]))
        except NetlinkFailure as exc:
            if exc.errno == errno.ENODEV:
                return False
            raise
        return True

    # -- addresses and routes ---------------------------------------------------------------------------
    def dump_addrs(self) -> list[Addr]:
        req = Request(RTM_GETADDR, NLM_F_DUMP, _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0))
        return [Addr(m) for m in self.request(req)]

    @staticmethod
    def add_addr(index: int, address: str, prefixlen: int) -> Request:
        raw = socket.inet_aton(address)
        header = _IFADDR.pack(socket.AF_INET, prefixlen, 0, 0, index)
        return Request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, header, [(IFA_LOCAL, raw), (IFA_ADDRESS, raw)])

    def dump_routes(self, table: int = 0) -> list[Route]:
        """IPv4 routes of ``table`` (0: every table)."""
        header = _RTMSG.pack(socket.AF_INET, 0, 0, 0, table, 0, 0, 0, 0)
        routes = [Route(m) for m in self.request(Request(RTM_GETROUTE, NLM_F_DUMP, header))]
        return [r for r in routes if table in (0, r.table)]

    @staticmethod
    def add_default_route(gateway: str, oif: int = 0) -> Request:
        """What ``ip route add default via GW [dev OIF]`` sends (main table, boot protocol, unicast)."""
        header = _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
        attrs: list[Attr] = [(RTA_GATEWAY, socket.inet_aton(gateway))]
        if oif:
            attrs.append((RTA_OIF, oif))
        return Request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, header, attrs)
