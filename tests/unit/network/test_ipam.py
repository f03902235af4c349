"""The persisted address table: allocation, release, exhaustion, round-robin, persistence."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from devenv.errors import NetworkError
from devenv.network.ipam import Ipam

SUBNET = ipaddress.IPv4Network("10.9.0.0/29")  # hosts .1-.6: gateway .1, containers .2-.6


def test_allocations_persist_and_skip_the_gateway(tmp_path: Path) -> None:
    ipam = Ipam(tmp_path)
    with ipam.transaction() as st:
        st.subnet = SUBNET
        assert str(st.allocate("a")) == "10.9.0.2"
        assert str(st.allocate("b")) == "10.9.0.3"
        assert str(st.allocate("a")) == "10.9.0.2"  # idempotent
    again = Ipam(tmp_path).read()
    assert again is not None
    assert again.allocations == {"a": "10.9.0.2", "b": "10.9.0.3"}


def test_released_address_is_not_reused_at_once(tmp_path: Path) -> None:
    ipam = Ipam(tmp_path)
    with ipam.transaction() as st:
        st.subnet = SUBNET
        st.allocate("a")
        st.allocate("b")
    with ipam.transaction() as st:
        st.release("a")
        assert str(st.allocate("c")) == "10.9.0.4"


def test_exhaustion_is_a_clear_error(tmp_path: Path) -> None:
    with Ipam(tmp_path).transaction() as st:
        st.subnet = SUBNET
        for i in range(5):
            st.allocate(f"c{i}")
        with pytest.raises(NetworkError, match=r"no free address left in 10\.9\.0\.0/29"):
            st.allocate("one-too-many")


def test_file_is_removed_with_the_last_allocation(tmp_path: Path) -> None:
    ipam = Ipam(tmp_path)
    with ipam.transaction() as st:
        st.subnet = SUBNET
        st.allocate("a")
    assert ipam.path.exists()
    with ipam.transaction() as st:
        st.release("a")
    assert not ipam.path.exists()


def test_failed_block_saves_nothing(tmp_path: Path) -> None:
    ipam = Ipam(tmp_path)
    with pytest.raises(RuntimeError), ipam.transaction() as st:
        st.subnet = SUBNET
        st.allocate("a")
        raise RuntimeError("boom")
    assert ipam.read() is None


def test_damaged_file_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "ipam.json").write_text("{not json")
    with pytest.raises(NetworkError, match="damaged") as info:
        Ipam(tmp_path).read()
    assert info.value.remedy
