"""Which host ports are tried for a mapping."""

from __future__ import annotations

import itertools

from devenv.network.hostports import candidates
from devenv.runtime.base import PortMapping


def first(mapping: PortMapping, n: int = 3) -> list[int]:
    return list(itertools.islice(candidates(mapping, 1024), n))


def test_same_port_then_the_next_ones() -> None:
    assert first(PortMapping(3000, 3000)) == [3000, 3001, 3002]


def test_required_port_is_the_only_candidate() -> None:
    assert first(PortMapping(3000, 3000, require_local_port=True)) == [3000]


def test_zero_lets_the_kernel_choose() -> None:
    assert first(PortMapping(3000, 0)) == [0]


def test_privileged_port_shifts_unless_elevation_is_allowed() -> None:
    assert first(PortMapping(80, 80)) == [8080, 8081, 8082]
    assert first(PortMapping(80, 80, elevate_if_needed=True)) == [80, 81, 82]


def test_search_stops_at_the_last_port() -> None:
    assert list(candidates(PortMapping(65534, 65534), 1024)) == [65534, 65535]
