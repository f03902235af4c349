"""Capability sets: Docker's default, privileged, cap_add/cap_drop, and how they are applied."""

from __future__ import annotations

import pytest

from devenv.runtime.embedded import caps
from devenv.runtime.embedded.syscalls import PR_CAP_AMBIENT, PR_CAPBSET_DROP, RecordingSyscalls


def test_default_set_is_dockers() -> None:
    assert caps.mask(caps.container_set(False)) == 0xA80425FB


def test_add_and_drop_accept_docker_spellings() -> None:
    got = caps.container_set(False, cap_add=["cap_sys_admin", "NET_ADMIN"], cap_drop=["CAP_MKNOD"])
    assert "SYS_ADMIN" in got and "NET_ADMIN" in got and "MKNOD" not in got
    assert caps.container_set(False, cap_drop=["ALL"], cap_add=["CHOWN"]) == ["CHOWN"]
    assert caps.container_set(False, cap_add=["ALL"]) == sorted(caps.CAPABILITIES, key=caps.CAPABILITIES.__getitem__)


def test_privileged_gets_everything_unless_dropped() -> None:
    got = caps.container_set(True, cap_drop=["SYS_MODULE"])
    assert len(got) == len(caps.CAPABILITIES) - 1 and "SYS_MODULE" not in got


def test_unknown_capability_is_an_error() -> None:
    with pytest.raises(caps.UnknownCapability, match="SYS_WIZARD"):
        caps.container_set(False, cap_add=["SYS_WIZARD"])


def test_held_keeps_only_what_the_host_grants() -> None:
    assert caps.held(["CHOWN", "SYS_RESOURCE"], 0xFEFFFFFF) == ["CHOWN"]


def test_drop_bounding_drops_everything_else_and_clears_ambient() -> None:
    sys = RecordingSyscalls()
    caps.drop_bounding(sys, caps.DOCKER_DEFAULT, top=40)
    dropped = {c[2] for c in sys.calls if c[1] == PR_CAPBSET_DROP}
    assert dropped == set(range(41)) - {caps.CAPABILITIES[n] for n in caps.DOCKER_DEFAULT}
    assert sys.calls[-1][1] == PR_CAP_AMBIENT


def test_root_keeps_the_set_and_others_keep_nothing() -> None:
    sys = RecordingSyscalls()
    caps.set_process_caps(sys, ["CHOWN", "KILL"], uid=0)
    caps.set_process_caps(sys, ["CHOWN", "KILL"], uid=1000)
    assert sys.calls == [("capset", 0b100001, 0b100001, 0), ("capset", 0, 0, 0)]
