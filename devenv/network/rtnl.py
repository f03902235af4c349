"""A small synchronous rtnetlink client: pyroute2's message classes over a plain netlink socket.

pyroute2's ``IPRoute`` runs every request through an asyncio event loop and its request filters: a
dozen Python-level steps per request, and attaching a container takes several requests. Here a request
is one message built with pyroute2's ``ifinfmsg`` / ``ifaddrmsg`` / ``rtmsg`` (pyroute2 is the netlink
library: it encodes and decodes every rtnetlink message), and requests that do not depend on each
other's answers go to the kernel in one ``send`` (:meth:`Rtnl.batch`): the kernel carries them out in
order and acknowledges each. Only the netlink header of a reply is read here, to match it to its
request; its payload is decoded by pyroute2, whose attributes are decoded when read (``get_attr``).

Importing pyroute2's package runs its ``__init__``, which imports every protocol it supports (about
150 ms); :func:`_classes` imports only the rtnetlink message modules, with that ``__init__`` deferred
until something asks the package for a name it does not have (``from pyroute2 import IPRoute`` still
works, in the same process, afterwards).
"""

from __future__ import annotations

import errno
import os
import socket
import struct

TYPE_CHECKING = False  # (typing is not imported at run time)
if TYPE_CHECKING:
    from typing import Any

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_ACK, NLM_F_ECHO, NLM_F_DUMP = 1, 4, 8, 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_GETROUTE = 20, 22, 24, 26
IFF_UP = 1
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
_HEADER = struct.Struct("=IHHII")  # nlmsghdr (length, type, flags, sequence, port): matches a reply to its request
_ERROR = struct.Struct("=i")  # nlmsgerr's error code, after the header


class NetlinkFailure(OSError):
    """The kernel refused a request (``errno`` is its error)."""


def _classes() -> tuple[Any, Any, Any]:
    """pyroute2's ifinfmsg, ifaddrmsg and rtmsg, imported without running pyroute2's package init."""
    import sys

    if "pyroute2" not in sys.modules:
        _defer_package_init()
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    from pyroute2.netlink.rtnl.rtmsg import rtmsg

    return ifinfmsg, ifaddrmsg, rtmsg


def _defer_package_init() -> None:
    """Register the ``pyroute2`` package without executing its ``__init__``: submodules import as usual;
    the first request for a package-level name (``pyroute2.IPRoute``) executes the ``__init__`` then."""
    import importlib.util
    import sys

    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return  # (not importable: the imports below say so)
    module = importlib.util.module_from_spec(spec)
    loaded: list[bool] = []

    def __getattr__(name: str) -> Any:
        if name.startswith("__") or importlib.util.find_spec(f"pyroute2.{name}") is not None:
            raise AttributeError(name)  # a submodule: the import system loads it
        if not loaded:
            loaded.append(True)
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        return module.__dict__[name]

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules["pyroute2"] = module


class Request:
    """One message to send: a pyroute2 message (``cls``) of ``msg_type`` with its fields and attributes
    (pyroute2's names and values), built once; REQUEST and ACK are added to ``flags``. The header's
    sequence number is set, and the message encoded by pyroute2, when it is sent."""

    __slots__ = ("cls", "dump", "msg")

    def __init__(self, cls: Any, msg_type: int, flags: int, fields: dict[str, Any], attrs: list[Any]) -> None:
        self.cls = cls
        msg = cls()
        for key, value in fields.items():
            msg[key] = value
        msg["attrs"] = attrs
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = flags | NLM_F_REQUEST | NLM_F_ACK
        self.msg = msg
        # (NLM_F_DUMP shares bits with NLM_F_EXCL / NLM_F_CREATE: a GET with them is a dump)
        self.dump = msg_type in (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE) and flags & NLM_F_DUMP == NLM_F_DUMP

    def encode(self, seq: int) -> bytes | bytearray:
        msg = self.msg
        msg["header"]["sequence_number"] = seq
        msg.reset()  # (a request sent again, e.g. after EEXIST, is encoded again with its new number)
        msg.encode()
        data: bytes | bytearray = msg.data
        return data


class Rtnl:
    """One rtnetlink socket (of the namespace it was created in). Requests are sequential."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        self.ifinfmsg, self.ifaddrmsg, self.rtmsg = _classes()
        if sock is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock = sock
        self.sock.bind((0, 0))
        self.seq = int.from_bytes(os.urandom(2), "little")

    def close(self) -> None:
        self.sock.close()

    def batch(self, requests: list[Request]) -> list[list[Any]]:
        """Send the requests in one ``send``; for each, the messages it was answered with (pyroute2's,
        decoded), after its acknowledgement or the end of its dump. The kernel carries out every request;
        the first refusal is raised (NetlinkFailure with its errno) once all are answered."""
        data = bytearray()
        seqs: dict[int, int] = {}
        for position, req in enumerate(requests):
            self.seq = (self.seq + 1) & 0xFFFFFFFF
            seqs[self.seq] = position
            data += req.encode(self.seq)
        self.sock.send(data)
        answers: list[list[Any]] = [[] for _ in requests]
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
                req = requests[seqs[seq]]
                if msg_type == NLMSG_ERROR:
                    code = -_ERROR.unpack_from(chunk, start + _HEADER.size)[0]
                    if code:
                        failures.append((seqs[seq], code))
                        pending.discard(seq)
                    elif not req.dump:
                        pending.discard(seq)
                elif msg_type == NLMSG_DONE:
                    pending.discard(seq)
                else:
                    msg = req.cls(chunk, offset=start)
                    msg.decode()  # (the fixed fields and the attribute list; a value is decoded when read)
                    answers[seqs[seq]].append(msg)
        if failures:
            code = min(failures)[1]
            raise NetlinkFailure(code, os.strerror(code))
        return answers

    def request(self, req: Request) -> list[Any]:
        return self.batch([req])[0]

    # -- links ----------------------------------------------------------------------------------------
    def get_link(self, name: str | None = None, index: int = 0) -> Any | None:
        """The link message of ``name`` (or ``index``), None when there is no such link."""
        attrs = [("IFLA_IFNAME", name)] if name else []
        try:
            found = self.request(Request(self.ifinfmsg, RTM_GETLINK, 0, {"index": index}, attrs))
        except NetlinkFailure as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
        return found[0] if found else None

    def dump_links(self) -> list[Any]:
        return self.request(Request(self.ifinfmsg, RTM_GETLINK, NLM_F_DUMP, {}, []))

    def new_link(self, attrs: list[Any], *, up: bool = False, echo: bool = False) -> Request:
        """Create a link (``echo``: the kernel answers with the new link's message, kernels >= 6.1)."""
        fields = {"flags": IFF_UP, "change": IFF_UP} if up else {}
        flags = NLM_F_CREATE | NLM_F_EXCL | (NLM_F_ECHO if echo else 0)
        return Request(self.ifinfmsg, RTM_NEWLINK, flags, fields, attrs)

    def set_link(self, index: int, attrs: list[Any], *, up: bool | None = None) -> Request:
        """Change a link, by ``index`` or (0) by the IFLA_IFNAME in ``attrs``."""
        fields: dict[str, Any] = {"index": index}
        if up is not None:
            fields.update(flags=IFF_UP if up else 0, change=IFF_UP)
        return Request(self.ifinfmsg, RTM_NEWLINK, 0, fields, attrs)

    def del_link(self, name: str) -> bool:
        try:
            self.request(Request(self.ifinfmsg, RTM_DELLINK, 0, {}, [("IFLA_IFNAME", name)]))
        except NetlinkFailure as exc:
            if exc.errno == errno.ENODEV:
                return False
            raise
        return True

    # -- addresses and routes ---------------------------------------------------------------------------
    def dump_addrs(self) -> list[Any]:
        """IPv4 address messages."""
        return self.request(Request(self.ifaddrmsg, RTM_GETADDR, NLM_F_DUMP, {"family": socket.AF_INET}, []))

    def add_addr(self, index: int, address: str, prefixlen: int) -> Request:
        fields = {"family": socket.AF_INET, "prefixlen": prefixlen, "index": index}
        attrs = [("IFA_LOCAL", address), ("IFA_ADDRESS", address)]
        return Request(self.ifaddrmsg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, fields, attrs)

    def dump_routes(self, table: int = 0) -> list[Any]:
        """IPv4 route messages of ``table`` (0: every table)."""
        fields = {"family": socket.AF_INET, "table": table}
        routes = self.request(Request(self.rtmsg, RTM_GETROUTE, NLM_F_DUMP, fields, []))
        return [r for r in routes if table in (0, route_table(r))]

    def add_default_route(self, gateway: str, oif: int = 0) -> Request:
        """What ``ip route add default via GW [dev OIF]`` sends (main table, boot protocol, unicast)."""
        fields = {
            "family": socket.AF_INET,
            "table": RT_TABLE_MAIN,
            "proto": RTPROT_BOOT,
            "scope": RT_SCOPE_UNIVERSE,
            "type": RTN_UNICAST,
        }
        attrs: list[Any] = [("RTA_GATEWAY", gateway)]
        if oif:
            attrs.append(("RTA_OIF", oif))
        return Request(self.rtmsg, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, fields, attrs)


def attr_values(msg: Any, *names: str) -> list[Any]:
    """The values of the attributes ``names`` (pyroute2's names: ``"IFLA_MTU"``) of a decoded message,
    None for one it lacks, the first of a repeated one: one pass over its attribute list, and only these
    are decoded (``get_attr`` per name would scan the list once for each)."""
    wanted = dict.fromkeys(names)
    missing = len(wanted)
    for slot in msg["attrs"]:
        name = slot[0]
        if name in wanted and wanted[name] is None:
            wanted[name] = slot[1]
            missing -= 1
            if not missing:
                break
    return [wanted[name] for name in names]


def route_table(route: Any) -> int:
    """A route message's table: RTA_TABLE (tables above 255), else the header's field."""
    return int(route.get_attr("RTA_TABLE") or route["table"])
