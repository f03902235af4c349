"""Parsing /proc/net/tcp and tcp6 for listening sockets."""

from __future__ import annotations

from devenv.network.procnet import Listener, parse

TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4343 1 0 100 0 0 10 0
   2: 0200F20A:A3C2 0100F20A:0BB8 01 00000000:00000000 00:00000000 00000000     0        0 4444 1 0 20 4 30 10 -1
"""

ZERO = "0" * 32
TCP6 = f"""  sl  local_address                         remote_address                        st tx_queue rx_queue
   0: {"0" * 24}01000000:1389 {ZERO}:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5151 1
   1: {ZERO}:0016 {ZERO}:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5252 1
"""


def test_only_listening_sockets_with_decoded_addresses() -> None:
    assert parse(TCP) == [Listener(3000, "127.0.0.1", 4242), Listener(8080, "0.0.0.0", 4343)]


def test_ipv6_addresses_are_decoded_word_by_word() -> None:
    assert parse(TCP6) == [Listener(5001, "::1", 5151), Listener(22, "::", 5252)]


def test_empty_table() -> None:
    assert parse(TCP.splitlines()[0]) == []
