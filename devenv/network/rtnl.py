"""A small synchronous rtnetlink client: pyroute2's message classes over a plain netlink socket.

pyroute2's ``IPRoute`` runs every request through an asyncio event loop and its request filters: a
dozen Python-level steps per request, and attaching a container takes about ten requests. Here a
request is one message built with pyroute2's ``ifinfmsg`` / ``ifaddrmsg`` / ``rtmsg`` (pyroute2 stays
the netlink library: it encodes and decodes every message), one ``send``, and the replies read until
the kernel's acknowledgement or the end of a dump.

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
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 1, 4, 0x300
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_GETROUTE = 20, 22, 24, 26
IFF_UP = 1
_HEADER = struct.Struct("=IHHII")


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

    def request(self, cls: Any, msg_type: int, flags: int, fields: dict[str, Any], attrs: list[Any]) -> list[Any]:
        """Send one message; the messages it answers with (decoded), after the acknowledgement or the end
        of the dump. Raises NetlinkFailure with the kernel's errno."""
        self.seq += 1
        msg = cls()
        for key, value in fields.items():
            msg[key] = value
        msg["attrs"] = attrs
        msg["header"]["type"] = msg_type
        msg["header"]["flags"] = flags | NLM_F_REQUEST | NLM_F_ACK
        msg["header"]["sequence_number"] = self.seq
        msg.encode()
        self.sock.send(msg.data)
        # (NLM_F_DUMP shares bits with NLM_F_EXCL / NLM_F_CREATE: a GET with them is a dump)
        return self._replies(
            cls, self.seq, dump=msg_type in (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE) and bool(flags & NLM_F_DUMP)
        )

    def _replies(self, cls: Any, seq: int, *, dump: bool) -> list[Any]:
        found: list[Any] = []
        while True:
            data = self.sock.recv(1 << 20)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, msg_type, _, msg_seq, _ = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    raise NetlinkFailure(errno.EPROTO, "truncated netlink message")
                chunk = data[offset : offset + length]
                offset += (length + 3) & ~3
                if msg_seq != seq:
                    continue  # an answer to an earlier, abandoned request
                if msg_type == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", chunk, _HEADER.size)[0]
                    if code:
                        raise NetlinkFailure(code, os.strerror(code))
                    if not dump:
                        return found
                elif msg_type == NLMSG_DONE:
                    return found
                else:
                    decoded = cls(chunk)
                    decoded.decode()
                    found.append(decoded)

    # -- links ----------------------------------------------------------------------------------------
    def get_link(self, name: str | None = None, index: int = 0) -> Any | None:
        attrs = [("IFLA_IFNAME", name)] if name else []
        try:
            msgs = self.request(self.ifinfmsg, RTM_GETLINK, 0, {"index": index}, attrs)
        except NetlinkFailure as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
        return msgs[0] if msgs else None

    def dump_links(self) -> list[Any]:
        return self.request(self.ifinfmsg, RTM_GETLINK, NLM_F_DUMP, {}, [])

    def new_link(self, attrs: list[Any], *, up: bool = False) -> None:
        fields = {"flags": IFF_UP, "change": IFF_UP} if up else {}
        self.request(self.ifinfmsg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, fields, attrs)

    def set_link(self, index: int, attrs: list[Any], *, up: bool | None = None) -> None:
        fields: dict[str, Any] = {"index": index}
        if up is not None:
            fields.update(flags=IFF_UP if up else 0, change=IFF_UP)
        self.request(self.ifinfmsg, RTM_NEWLINK, 0, fields, attrs)

    def del_link(self, name: str) -> bool:
        try:
            self.request(self.ifinfmsg, RTM_DELLINK, 0, {}, [("IFLA_IFNAME", name)])
        except NetlinkFailure as exc:
            if exc.errno == errno.ENODEV:
                return False
            raise
        return True

    # -- addresses and routes ---------------------------------------------------------------------------
    def dump_addrs(self, family: int = socket.AF_INET) -> list[Any]:
        return self.request(self.ifaddrmsg, RTM_GETADDR, NLM_F_DUMP, {"family": family}, [])

    def add_addr(self, index: int, address: str, prefixlen: int) -> None:
        fields = {"family": socket.AF_INET, "prefixlen": prefixlen, "index": index}
        attrs = [("IFA_LOCAL", address), ("IFA_ADDRESS", address)]
        self.request(self.ifaddrmsg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, fields, attrs)

    def dump_routes(self, table: int = 0) -> list[Any]:
        return self.request(self.rtmsg, RTM_GETROUTE, NLM_F_DUMP, {"family": socket.AF_INET, "table": table}, [])

    def add_default_route(self, gateway: str, oif: int) -> None:
        # main table, boot protocol, universe scope, unicast: what `ip route add default via GW` sends
        fields = {"family": socket.AF_INET, "table": 254, "proto": 3, "scope": 0, "type": 1}
        attrs = [("RTA_GATEWAY", gateway), ("RTA_OIF", oif)]
        self.request(self.rtmsg, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, fields, attrs)
